//! libusb (rusb) against gadgets on dummy_hcd: listing with string descriptors, without udev;
//! and what a hub class request for port power does to dummy_hcd's root hub.

use std::path::Path;
use std::sync::PoisonError;
use std::time::Duration;

use rigor_usb::libusb::{HubPortRequest, list};
use rigor_usb::{SYSFS_USB, UsbDevice, discover};

use crate::USB;
use crate::gadget::{Gadget, wait_for};

/// What both listings can say about a device (libusb does not know ttys).
fn identity(d: &UsbDevice) -> (String, String, Option<String>, Option<String>) {
    (
        d.location.clone(),
        d.identity(),
        d.manufacturer.clone(),
        d.product.clone(),
    )
}

fn sysfs() -> Vec<UsbDevice> {
    discover(Path::new(SYSFS_USB)).unwrap()
}

#[test]
fn libusb_lists_the_gadgets_and_reads_their_serials_as_sysfs_shows_them() {
    let _usb = USB.lock().unwrap_or_else(PoisonError::into_inner);
    let _uart = Gadget::plug(
        "lu-uart",
        (0x0403, 0x6001, "FT5XYZ12"),
        "FT232R USB UART",
        0,
    );
    let _probe = Gadget::plug(
        "lu-probe",
        (0x0483, 0x374b, "066DFF485550755187121723"),
        "STM32 STLink",
        1,
    );
    wait_for("both enumerated", Duration::from_secs(20), || {
        sysfs().iter().filter(|d| !d.ttys.is_empty()).count() == 2
    });
    let by_sysfs: Vec<_> = sysfs().iter().map(identity).collect();
    let by_libusb: Vec<_> = list().unwrap().iter().map(identity).collect();
    assert_eq!(by_libusb, by_sysfs);
    assert_eq!(by_libusb.len(), 2);
    assert_eq!(by_libusb[0].1, "0403:6001:FT5XYZ12");
    assert_eq!(by_libusb[1].1, "0483:374b:066DFF485550755187121723");
}

fn devnum(location: &str) -> Option<u32> {
    let text = std::fs::read_to_string(Path::new(SYSFS_USB).join(location).join("devnum")).ok()?;
    text.trim().parse().ok()
}

/// What dummy_hcd does with the requests uhubctl sends: `ClearPortFeature(PORT_POWER)` is
/// accepted and cuts its emulated port, but the kernel's hub driver is told of no change, so the
/// device stays listed while "off"; `SetPortFeature(PORT_POWER)` then shows a new connection, and
/// the device is enumerated again. Off and on is a power cycle; off alone is not visible here.
#[test]
fn port_power_off_and_on_by_hub_class_requests_re_enumerates_the_device() {
    let _usb = USB.lock().unwrap_or_else(PoisonError::into_inner);
    let _dut = Gadget::plug("lu-power", (0x1209, 0x0002, "PORTPOWER"), "powered DUT", 1);
    wait_for("enumerated on bus 2", Duration::from_secs(20), || {
        devnum("2-1").is_some()
    });
    let first = devnum("2-1").unwrap();
    let port = HubPortRequest::new("usb2", 1);
    port.set_power(false).unwrap();
    port.set_power(true).unwrap();
    wait_for("enumerated again", Duration::from_secs(20), || {
        devnum("2-1").is_some_and(|n| n != first)
    });
    let again = sysfs();
    assert!(
        again
            .iter()
            .any(|d| d.location == "2-1" && d.identity() == "1209:0002:PORTPOWER"),
        "{again:?}"
    );
    // A hub that is not there is named.
    let err = HubPortRequest::new("usb9", 1).set_power(true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "hub usb9 port 1: No such device (it may have been disconnected)"
    );
}
