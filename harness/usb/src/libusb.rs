//! USB through libusb (the `rusb` crate, libusb built in): listing devices with their string
//! descriptors the same way on Linux, macOS and Windows stations, and switching a hub port's
//! power with hub class requests (`SetPortFeature`/`ClearPortFeature(PORT_POWER)`, as uhubctl
//! does).
//!
//! On Linux, [`crate::discover`] (sysfs) stays the default: it reads what the kernel already
//! read from each device, so it opens nothing (no permissions on `/dev/bus/usb`, no control
//! transfer to a device that is busy flashing), and it names each adapter's ttys, which libusb
//! cannot. libusb reads the string descriptors from the device itself, so a device the station
//! may not open is listed without them.
//!
//! Verified in the Debian kernel guest (`tests/kernel`): gadgets on dummy_hcd listed with their
//! serial numbers without udev (libusb's hotplug events need udev and are not used).

use std::time::Duration;

use rusb::UsbContext;

use crate::discover::{UsbDevice, UsbError, kind};

/// How long a descriptor read or a hub request may take.
const TIMEOUT: Duration = Duration::from_secs(1);

/// `bmRequestType` of a hub class request to a port: host to device, class, recipient other.
const HUB_PORT_REQUEST: u8 = 0x23;
/// `CLEAR_FEATURE` and `SET_FEATURE`.
const CLEAR_FEATURE: u8 = 0x01;
const SET_FEATURE: u8 = 0x03;
/// The `PORT_POWER` feature selector.
const PORT_POWER: u16 = 8;

fn libusb_error(what: impl Into<String>) -> impl FnOnce(rusb::Error) -> UsbError {
    let what = what.into();
    move |source| UsbError::Libusb { what, source }
}

/// Where a device is plugged in, as sysfs names it: bus, then the port chain (`1-2.4`); a root
/// hub is `usbN`.
fn location(device: &rusb::Device<rusb::Context>) -> String {
    let ports = device.port_numbers().unwrap_or_default();
    if ports.is_empty() {
        return format!("usb{}", device.bus_number());
    }
    let chain: Vec<String> = ports.iter().map(u8::to_string).collect();
    format!("{}-{}", device.bus_number(), chain.join("."))
}

/// Every USB device libusb sees, root hubs left out, with the string descriptors of those it may
/// open.
pub fn list() -> Result<Vec<UsbDevice>, UsbError> {
    let context = rusb::Context::new().map_err(libusb_error("starting libusb"))?;
    let devices = context
        .devices()
        .map_err(libusb_error("listing USB devices"))?;
    let mut out = Vec::new();
    for device in devices.iter() {
        let location = location(&device);
        if location.starts_with("usb") {
            continue;
        }
        let descriptor = device.device_descriptor().map_err(libusb_error(format!(
            "reading the descriptor of {location}"
        )))?;
        let (vid, pid) = (descriptor.vendor_id(), descriptor.product_id());
        // Opening may be refused (permissions, a driver that holds it on some systems): the
        // device is still listed, without its strings.
        let strings = device.open().ok().map(|handle| {
            let read =
                |index: Option<u8>| index.and_then(|i| handle.read_string_descriptor_ascii(i).ok());
            (
                read(descriptor.serial_number_string_index()),
                read(descriptor.manufacturer_string_index()),
                read(descriptor.product_string_index()),
            )
        });
        let (serial, manufacturer, product) = strings.unwrap_or_default();
        out.push(UsbDevice {
            vid,
            pid,
            serial,
            manufacturer,
            product,
            kind: kind(vid, pid, descriptor.class_code(), &[]),
            location,
            ttys: Vec::new(),
        });
    }
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}

/// A hub's port, switched by hub class requests to the hub at `hub` (its sysfs-style location,
/// `usb1` for a root hub, `1-1` for a hub on its port 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPortRequest {
    hub: String,
    port: u8,
}

impl HubPortRequest {
    /// Port `port` of the hub at `hub`.
    pub fn new(hub: impl Into<String>, port: u8) -> Self {
        HubPortRequest {
            hub: hub.into(),
            port,
        }
    }

    /// Sends `SetPortFeature(PORT_POWER)` (on) or `ClearPortFeature(PORT_POWER)` (off). Whether
    /// VBUS follows depends on the hub: only hubs with per-port power switching cut it.
    pub fn set_power(&self, on: bool) -> Result<(), UsbError> {
        let context = rusb::Context::new().map_err(libusb_error("starting libusb"))?;
        let devices = context
            .devices()
            .map_err(libusb_error("listing USB devices"))?;
        let what = format!("hub {} port {}", self.hub, self.port);
        let hub = devices
            .iter()
            .find(|d| location(d) == self.hub)
            .ok_or_else(|| UsbError::Libusb {
                what: what.clone(),
                source: rusb::Error::NoDevice,
            })?;
        let handle = hub
            .open()
            .map_err(libusb_error(format!("opening {what}")))?;
        let request = if on { SET_FEATURE } else { CLEAR_FEATURE };
        handle
            .write_control(
                HUB_PORT_REQUEST,
                request,
                PORT_POWER,
                u16::from(self.port),
                &[],
                TIMEOUT,
            )
            .map_err(libusb_error(format!("switching {what}")))?;
        Ok(())
    }
}
