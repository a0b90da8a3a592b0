//! Switching a hub port's power through sysfs (`<hub>-port<N>/disable`), for rigs that power
//! the device under test from USB. The kernel exposes the attribute on hubs since Linux 4.x; on a
//! hub with per-port power switching it cuts VBUS, as uhubctl's class requests do.
//!
//! Verified against the root hub of dummy_hcd in a Debian kernel guest (`tests/kernel`, run by
//! `.ci/kernel-tests`): writing `disable` disconnects the device on the port and clearing it
//! re-enumerates it. Whether a real hub cuts VBUS as well depends on the hub (per-port power
//! switching); that needs real hubs.

use std::path::{Path, PathBuf};

/// A port of a hub, by the hub's location (`1-1`) and port number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPort {
    attr: PathBuf,
}

impl HubPort {
    /// Port `port` of the hub at `hub` (its sysfs name, `1-1`), under `root`
    /// ([`crate::SYSFS_USB`]).
    pub fn new(root: &Path, hub: &str, port: u32) -> Self {
        // The port's node sits under the hub's interface 0 of configuration 1, which for a root
        // hub (`usb1`) is named after its bus and port 0 (`1-0:1.0`).
        let interface = match hub.strip_prefix("usb") {
            Some(bus) => format!("{bus}-0:1.0"),
            None => format!("{hub}:1.0"),
        };
        HubPort {
            attr: root
                .join(interface)
                .join(format!("{hub}-port{port}"))
                .join("disable"),
        }
    }

    /// Switches the port on or off.
    pub fn set_power(&self, on: bool) -> std::io::Result<()> {
        std::fs::write(&self.attr, if on { "0" } else { "1" })
    }

    /// Whether the port is on.
    pub fn power(&self) -> std::io::Result<bool> {
        Ok(std::fs::read_to_string(&self.attr)?.trim() == "0")
    }
}

/// The port as a one-channel instrument, `power`, so the engine switches it as it switches a
/// relay.
#[rigor_hal::async_trait]
impl rigor_hal::Instrument for HubPort {
    async fn read(&self, channel: &str) -> Result<rigor_hal::Reading, rigor_hal::HalError> {
        self.channel(channel)?;
        self.power()
            .map(rigor_hal::Reading::Bool)
            .map_err(|e| self.io(e))
    }

    async fn write(
        &self,
        channel: &str,
        value: rigor_hal::Reading,
    ) -> Result<(), rigor_hal::HalError> {
        self.channel(channel)?;
        let rigor_hal::Reading::Bool(on) = value else {
            return Err(rigor_hal::HalError::Misconfigured {
                what: format!("hub port {}", self.attr.display()),
                reason: "its `power` takes on or off".to_owned(),
            });
        };
        self.set_power(on).map_err(|e| self.io(e))
    }
}

impl HubPort {
    fn channel(&self, channel: &str) -> Result<(), rigor_hal::HalError> {
        if channel == "power" {
            Ok(())
        } else {
            Err(rigor_hal::HalError::Misconfigured {
                what: format!("hub port {}", self.attr.display()),
                reason: format!("it has one channel, `power`, not `{channel}`"),
            })
        }
    }

    fn io(&self, source: std::io::Error) -> rigor_hal::HalError {
        if source.kind() == std::io::ErrorKind::NotFound {
            rigor_hal::HalError::Disconnected {
                what: format!("hub port {}", self.attr.display()),
                source: Some(source),
            }
        } else {
            rigor_hal::HalError::Io {
                what: format!("hub port {}", self.attr.display()),
                source,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_port_is_switched_through_its_disable_attribute() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("1-1:1.0/1-1-port3");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("disable"), "0\n").unwrap();
        let port = HubPort::new(root.path(), "1-1", 3);
        assert!(port.power().unwrap());
        port.set_power(false).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("disable")).unwrap(), "1");
        assert!(!port.power().unwrap());
        assert!(HubPort::new(root.path(), "1-1", 4).power().is_err());
    }

    #[test]
    fn a_root_hubs_ports_sit_under_its_bus_interface() {
        let root = Path::new("/sys/bus/usb/devices");
        assert_eq!(
            HubPort::new(root, "usb2", 1).attr,
            root.join("2-0:1.0/usb2-port1/disable")
        );
        assert_eq!(
            HubPort::new(root, "2-1.3", 4).attr,
            root.join("2-1.3:1.0/2-1.3-port4/disable")
        );
    }

    #[tokio::test]
    async fn the_engine_switches_a_port_as_a_one_channel_instrument() {
        use rigor_hal::{Instrument, Reading};
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("3-2.4:1.0/3-2.4-port1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("disable"), "1\n").unwrap();
        let port = HubPort::new(root.path(), "3-2.4", 1);
        assert_eq!(port.read("power").await.unwrap(), Reading::Bool(false));
        port.write("power", Reading::Bool(true)).await.unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("disable")).unwrap(), "0");
        let err = port
            .write("current", Reading::Number(1.0))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("one channel, `power`"), "{err}");
        let gone = HubPort::new(root.path(), "3-9", 1);
        let err = gone.write("power", Reading::Bool(true)).await.unwrap_err();
        assert!(
            matches!(err, rigor_hal::HalError::Disconnected { .. }),
            "{err}"
        );
    }
}
