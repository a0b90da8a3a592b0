//! USB discovery for rigs: what is attached (from sysfs), which rig channel each adapter or probe
//! is, and for a channel that matches nothing, the closest candidate and the field that differs.
//! Also switching a hub port's power, for rigs that power DUTs from USB.
//!
//! Discovery reads `/sys/bus/usb/devices`, as udev and the serialport crate do: it needs no C
//! library and opens no device, so it works without permissions on the devices themselves. The
//! `libusb` feature adds the `libusb` module: the same listing where there is no sysfs (macOS,
//! Windows), and hub-port power by hub class requests for hubs whose sysfs `disable` does not cut
//! VBUS.

mod discover;
mod hub;
#[cfg(feature = "libusb")]
pub mod libusb;
mod matching;

pub use discover::{DeviceKind, UsbDevice, UsbError, discover};
pub use hub::HubPort;
pub use matching::{ChannelMatch, ProbeReport, UsbWanted, Verdict, match_rig};

/// Where Linux lists USB devices.
pub const SYSFS_USB: &str = "/sys/bus/usb/devices";
