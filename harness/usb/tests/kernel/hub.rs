//! Hub-port power through sysfs on dummy_hcd's root hub: the device on the port goes away and
//! comes back as a new enumeration.

use std::path::Path;
use std::sync::PoisonError;
use std::time::Duration;

use rigor_hal::{Instrument, Reading};
use rigor_usb::{HubPort, SYSFS_USB, discover};

use crate::USB;
use crate::gadget::{Gadget, wait_for};

fn devnum(location: &str) -> Option<u32> {
    let text = std::fs::read_to_string(Path::new(SYSFS_USB).join(location).join("devnum")).ok()?;
    text.trim().parse().ok()
}

#[test]
fn switching_a_root_hub_port_off_and_on_re_enumerates_its_device() {
    let _usb = USB.lock().unwrap_or_else(PoisonError::into_inner);
    // The port is switched through the seam the engine uses, an instrument with one channel.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // UDC 1 is the gadget side of the second dummy_hcd, whose host side is bus 2.
    let _gadget = Gadget::plug("powered", (0x1209, 0x0001, "HUBPORT1"), "powered DUT", 1);
    let present = || {
        discover(Path::new(SYSFS_USB))
            .unwrap()
            .into_iter()
            .any(|d| d.serial.as_deref() == Some("HUBPORT1"))
    };
    wait_for(
        "the device enumerated on bus 2",
        Duration::from_secs(20),
        || present() && devnum("2-1").is_some(),
    );
    let first = devnum("2-1").unwrap();
    let port = HubPort::new(Path::new(SYSFS_USB), "usb2", 1);
    assert_eq!(
        runtime.block_on(port.read("power")).unwrap(),
        Reading::Bool(true)
    );

    runtime
        .block_on(port.write("power", Reading::Bool(false)))
        .unwrap();
    wait_for("the device gone", Duration::from_secs(10), || !present());
    assert_eq!(
        runtime.block_on(port.read("power")).unwrap(),
        Reading::Bool(false)
    );

    runtime
        .block_on(port.write("power", Reading::Bool(true)))
        .unwrap();
    wait_for("the device back", Duration::from_secs(20), || {
        present() && devnum("2-1").is_some()
    });
    assert_ne!(devnum("2-1").unwrap(), first, "a new enumeration");
    assert_eq!(
        runtime.block_on(port.read("power")).unwrap(),
        Reading::Bool(true)
    );
}
