//! Naming a serial port so it can be found again after it vanished.
//!
//! A power-cycled USB adapter comes back as another `/dev/ttyUSBn`; what stays is its vendor id,
//! product id and serial number (which udev's `/dev/serial/by-id/` links are built from). A port
//! named by USB identity is looked up again on every open.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rigor_hal::HalError;

/// A USB serial adapter's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsbId {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Serial number; without it, exactly one adapter of the kind may be attached.
    pub serial: Option<String>,
}

/// A `VID:PID[:SERIAL]` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is no USB identity: expected VID:PID or VID:PID:SERIAL, ids in hex (0403:6001:FT5XYZ12)"
)]
pub struct ParseUsbIdError(String);

impl FromStr for UsbId {
    type Err = ParseUsbIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseUsbIdError(s.to_owned());
        let mut parts = s.splitn(3, ':');
        let mut hex = || {
            let part = parts.next().filter(|p| (1..=4).contains(&p.len()))?;
            u16::from_str_radix(part, 16).ok()
        };
        let (vid, pid) = (hex().ok_or_else(bad)?, hex().ok_or_else(bad)?);
        let serial = match parts.next() {
            None => None,
            Some("") => return Err(bad()),
            Some(serial) => Some(serial.to_owned()),
        };
        Ok(UsbId { vid, pid, serial })
    }
}

impl fmt::Display for UsbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "usb {:04x}:{:04x}", self.vid, self.pid)?;
        match &self.serial {
            Some(serial) => write!(f, ":{serial}"),
            None => Ok(()),
        }
    }
}

/// Which serial port a console opens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortSelector {
    /// A device path: `/dev/ttyACM0`, a pty, or best a `/dev/serial/by-id/...` link, which udev
    /// points at the adapter's new name after it re-enumerates.
    Path(PathBuf),
    /// A USB adapter by identity, looked up among the ports the OS lists on every open.
    Usb(UsbId),
}

impl PortSelector {
    /// A port by path.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        PortSelector::Path(path.into())
    }

    /// The device path to open now.
    pub(crate) fn resolve(&self) -> Result<PathBuf, HalError> {
        match self {
            PortSelector::Path(path) => Ok(path.clone()),
            PortSelector::Usb(id) => pick(id, &listed_ports()?).map(PathBuf::from),
        }
    }
}

impl fmt::Display for PortSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSelector::Path(path) => write!(f, "{}", path.display()),
            PortSelector::Usb(id) => id.fmt(f),
        }
    }
}

/// A port the OS lists, as far as finding one by identity needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub name: String,
    pub usb: Option<UsbId>,
}

fn listed_ports() -> Result<Vec<Listed>, HalError> {
    // serialport panics, rather than failing, where sysfs is not mounted (some containers).
    if cfg!(target_os = "linux") && !Path::new("/sys/class/tty").is_dir() {
        return Err(HalError::Unsupported {
            what: "finding serial ports by USB identity".to_owned(),
            backend: "this system without /sys/class/tty".to_owned(),
        });
    }
    let ports = serialport::available_ports().map_err(|e| HalError::Io {
        what: "listing serial ports".to_owned(),
        source: e.into(),
    })?;
    Ok(ports
        .into_iter()
        .map(|p| Listed {
            usb: match p.port_type {
                serialport::SerialPortType::UsbPort(u) => Some(UsbId {
                    vid: u.vid,
                    pid: u.pid,
                    serial: u.serial_number,
                }),
                _ => None,
            },
            name: p.port_name,
        })
        .collect())
}

/// The one listed port that `id` names.
pub(crate) fn pick(id: &UsbId, listed: &[Listed]) -> Result<String, HalError> {
    let matching: Vec<&str> = listed
        .iter()
        .filter(|p| {
            p.usb.as_ref().is_some_and(|u| {
                u.vid == id.vid && u.pid == id.pid && (id.serial.is_none() || u.serial == id.serial)
            })
        })
        .map(|p| p.name.as_str())
        .collect();
    match matching.as_slice() {
        // Absent now is what a re-enumerating adapter looks like: the rig's to retry.
        [] => Err(HalError::Disconnected {
            what: id.to_string(),
            source: None,
        }),
        [one] => Ok((*one).to_owned()),
        several => Err(HalError::Misconfigured {
            what: id.to_string(),
            reason: format!(
                "{} ports match ({}); name the adapter's serial number, or for a multi-port \
                 adapter its /dev/serial/by-id path",
                several.len(),
                several.join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb(name: &str, id: &str) -> Listed {
        Listed {
            name: name.to_owned(),
            usb: Some(id.parse().unwrap()),
        }
    }

    #[test]
    fn usb_ids_parse_with_and_without_a_serial_number() {
        let id: UsbId = "0403:6001:FT5XYZ12".parse().unwrap();
        assert_eq!(
            (id.vid, id.pid, id.serial.as_deref()),
            (0x0403, 0x6001, Some("FT5XYZ12"))
        );
        assert_eq!(id.to_string(), "usb 0403:6001:FT5XYZ12");
        assert_eq!("1a86:7523".parse::<UsbId>().unwrap().serial, None);
        for bad in ["", "0403", "0403:", "xyz:6001", "04030:6001", "0403:6001:"] {
            let err = bad.parse::<UsbId>().unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("`{bad}` is no USB identity"))
            );
        }
    }

    #[test]
    fn a_usb_identity_picks_its_port_and_only_its_port() {
        let listed = [
            Listed {
                name: "/dev/ttyS0".to_owned(),
                usb: None,
            },
            usb("/dev/ttyUSB0", "0403:6001:AAA"),
            usb("/dev/ttyUSB3", "0403:6001:FT5XYZ12"),
            usb("/dev/ttyACM0", "2e8a:000a:E660"),
        ];
        let pick_str = |id: &str| pick(&id.parse().unwrap(), &listed);
        assert_eq!(pick_str("0403:6001:FT5XYZ12").unwrap(), "/dev/ttyUSB3");
        assert_eq!(pick_str("2e8a:000a").unwrap(), "/dev/ttyACM0");

        let absent = pick_str("0403:6001:GONE").unwrap_err();
        assert_eq!(absent.to_string(), "usb 0403:6001:GONE is gone");
        assert!(absent.is_infrastructure());

        let ambiguous = pick_str("0403:6001").unwrap_err();
        assert_eq!(
            ambiguous.to_string(),
            "usb 0403:6001: 2 ports match (/dev/ttyUSB0, /dev/ttyUSB3); name the adapter's \
             serial number, or for a multi-port adapter its /dev/serial/by-id path"
        );
    }

    #[test]
    fn listing_the_ports_of_this_machine_does_not_fail() {
        // Whatever is attached here: the lookup must run, and must not pick a port for an
        // adapter nobody has.
        if let Ok(listed) = listed_ports() {
            let nobody = UsbId {
                vid: 0xffff,
                pid: 0xfffe,
                serial: Some("rigor-test".to_owned()),
            };
            assert!(pick(&nobody, &listed).is_err());
        }
    }
}
