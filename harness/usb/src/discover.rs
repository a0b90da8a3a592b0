//! What is attached: every USB device sysfs lists, with its identity and its serial ports.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    /// sysfs could not be read.
    #[error("cannot list USB devices in {}: {source}", path.display())]
    Read {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// libusb failed.
    #[cfg(feature = "libusb")]
    #[error("{what}: {source}")]
    Libusb {
        /// What was being done.
        what: String,
        /// libusb's reason.
        source: rusb::Error,
    },
}

/// What a device is, by its ids and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// A debug probe (ST-Link, J-Link, CMSIS-DAP, Black Magic Probe, ...).
    DebugProbe,
    /// A USB serial adapter (FTDI, CP210x, CH340, PL2303, CDC-ACM).
    SerialAdapter,
    /// A hub.
    Hub,
    /// Anything else.
    Other,
}

/// An attached USB device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbDevice {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Serial number, if it has one.
    pub serial: Option<String>,
    /// Manufacturer string.
    pub manufacturer: Option<String>,
    /// Product string.
    pub product: Option<String>,
    /// Where it is plugged in: bus and port chain (`1-1.2`).
    pub location: String,
    /// Its serial ports (`/dev/ttyUSB0`).
    pub ttys: Vec<String>,
    /// What it is.
    pub kind: DeviceKind,
}

impl UsbDevice {
    /// `VID:PID[:SERIAL]`, as rigs write it.
    pub fn identity(&self) -> String {
        match &self.serial {
            Some(s) => format!("{:04x}:{:04x}:{s}", self.vid, self.pid),
            None => format!("{:04x}:{:04x}", self.vid, self.pid),
        }
    }
}

/// Debug probes by vendor and product id (`None`: every product of the vendor).
const PROBES: &[(u16, Option<u16>)] = &[
    (0x0483, Some(0x3748)), // ST-Link/V2
    (0x0483, Some(0x374b)), // ST-Link/V2-1
    (0x0483, Some(0x374e)), // STLINK-V3
    (0x0483, Some(0x374f)), // STLINK-V3
    (0x0483, Some(0x3753)), // STLINK-V3
    (0x1366, None),         // SEGGER J-Link
    (0x1d50, Some(0x6018)), // Black Magic Probe
    (0x0d28, Some(0x0204)), // Arm DAPLink (CMSIS-DAP)
    (0x2e8a, Some(0x000c)), // Raspberry Pi Debug Probe (CMSIS-DAP)
    (0x1fc9, Some(0x0143)), // NXP MCU-Link
];

/// USB serial adapter vendors (and the CDC-ACM class, below).
const SERIAL_VENDORS: &[u16] = &[0x0403, 0x10c4, 0x1a86, 0x067b];

pub(crate) fn kind(vid: u16, pid: u16, class: u8, ttys: &[String]) -> DeviceKind {
    if PROBES
        .iter()
        .any(|(v, p)| *v == vid && p.is_none_or(|p| p == pid))
    {
        DeviceKind::DebugProbe
    } else if class == 0x09 {
        DeviceKind::Hub
    } else if SERIAL_VENDORS.contains(&vid) || !ttys.is_empty() {
        DeviceKind::SerialAdapter
    } else {
        DeviceKind::Other
    }
}

fn attr(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn hex(dir: &Path, name: &str) -> Option<u16> {
    u16::from_str_radix(&attr(dir, name)?, 16).ok()
}

/// The ttys under a device's interfaces: `ttyUSB*` (usb-serial drivers) directly in an
/// interface, `tty/ttyACM*` (CDC-ACM) one level down.
fn ttys(device: &Path, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(device) else {
        return out;
    };
    for interface in entries.flatten() {
        let iname = interface.file_name().to_string_lossy().into_owned();
        if !iname.starts_with(&format!("{name}:")) {
            continue;
        }
        for dir in [interface.path(), interface.path().join("tty")] {
            if let Ok(children) = std::fs::read_dir(&dir) {
                for c in children.flatten() {
                    let n = c.file_name().to_string_lossy().into_owned();
                    if n.starts_with("ttyUSB") || n.starts_with("ttyACM") {
                        out.push(format!("/dev/{n}"));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// Every USB device under `root` (normally [`crate::SYSFS_USB`]), root hubs left out.
pub fn discover(root: &Path) -> Result<Vec<UsbDevice>, UsbError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        // No USB at all (a container, a VM without a controller): nothing attached.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(UsbError::Read {
                path: root.to_owned(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Devices are `B-P[.P...]`; interfaces have a colon, root hubs are `usbN`.
        if name.contains(':') || name.starts_with("usb") {
            continue;
        }
        let dir = entry.path();
        let (Some(vid), Some(pid)) = (hex(&dir, "idVendor"), hex(&dir, "idProduct")) else {
            continue;
        };
        let class = attr(&dir, "bDeviceClass")
            .and_then(|c| u8::from_str_radix(&c, 16).ok())
            .unwrap_or(0);
        let ttys = ttys(&dir, &name);
        out.push(UsbDevice {
            vid,
            pid,
            serial: attr(&dir, "serial"),
            manufacturer: attr(&dir, "manufacturer"),
            product: attr(&dir, "product"),
            kind: kind(vid, pid, class, &ttys),
            location: name,
            ttys,
        });
    }
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A fake sysfs device.
    pub fn device(
        root: &Path,
        name: &str,
        ids: (&str, &str, &str),
        serial: Option<&str>,
        tty: Option<&str>,
    ) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("idVendor"), format!("{}\n", ids.0)).unwrap();
        std::fs::write(dir.join("idProduct"), format!("{}\n", ids.1)).unwrap();
        std::fs::write(dir.join("bDeviceClass"), format!("{}\n", ids.2)).unwrap();
        if let Some(s) = serial {
            std::fs::write(dir.join("serial"), format!("{s}\n")).unwrap();
        }
        if let Some(t) = tty {
            std::fs::create_dir_all(dir.join(format!("{name}:1.0")).join(t)).unwrap();
        }
    }

    #[test]
    fn sysfs_devices_are_listed_with_their_kind_and_ttys() {
        let root = tempfile::tempdir().unwrap();
        device(
            root.path(),
            "1-1",
            ("0483", "374b", "ef"),
            Some("066DFF555"),
            None,
        );
        device(
            root.path(),
            "1-2.1",
            ("0403", "6001", "00"),
            Some("FT5XYZ12"),
            Some("ttyUSB0"),
        );
        device(root.path(), "1-2", ("05e3", "0610", "09"), None, None);
        std::fs::create_dir_all(root.path().join("usb1")).unwrap();
        std::fs::create_dir_all(root.path().join("1-1:1.0")).unwrap();
        let found = discover(root.path()).unwrap();
        let summary: Vec<(String, DeviceKind, Vec<String>)> = found
            .iter()
            .map(|d| (d.identity(), d.kind, d.ttys.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "0483:374b:066DFF555".to_owned(),
                    DeviceKind::DebugProbe,
                    vec![]
                ),
                ("05e3:0610".to_owned(), DeviceKind::Hub, vec![]),
                (
                    "0403:6001:FT5XYZ12".to_owned(),
                    DeviceKind::SerialAdapter,
                    vec!["/dev/ttyUSB0".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn a_machine_without_usb_has_nothing_attached() {
        assert!(discover(Path::new("/nonexistent/usb")).unwrap().is_empty());
    }
}
