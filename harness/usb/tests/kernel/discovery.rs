//! Discovery (sysfs) and matching against rack-a, as `rigor rig probe rack-a` does them.

use std::path::Path;
use std::sync::PoisonError;
use std::time::Duration;

use rigor_usb::{DeviceKind, SYSFS_USB, UsbDevice, Verdict, discover, match_rig};

use crate::gadget::{Gadget, wait_for};
use crate::{USB, rack_a};

fn attached() -> Vec<UsbDevice> {
    discover(Path::new(SYSFS_USB)).unwrap()
}

/// The attached device with this serial, once the kernel has enumerated it and bound its tty.
fn enumerated(serial: &str) -> UsbDevice {
    let mut found = None;
    wait_for(
        &format!("{serial} enumerated"),
        Duration::from_secs(20),
        || {
            found = attached()
                .into_iter()
                .find(|d| d.serial.as_deref() == Some(serial) && !d.ttys.is_empty());
            found.is_some()
        },
    );
    found.unwrap()
}

#[test]
fn rack_a_finds_its_adapter_and_probe_and_explains_a_wrong_serial() {
    let _usb = USB.lock().unwrap_or_else(PoisonError::into_inner);
    let rig = rack_a();

    // Another board's adapter: rack-a's VID:PID, another serial number.
    let wrong = Gadget::plug("wrong", (0x0403, 0x6001, "FT5XYZ99"), "FT232R USB UART", 0);
    let seen = enumerated("FT5XYZ99");
    let report = match_rig(&rig, &attached());
    let uart = report
        .channels
        .iter()
        .find(|c| c.slot == "a1" && c.channel == "serial.uart0")
        .unwrap();
    assert_eq!(
        uart.verdict,
        Verdict::Missing {
            why: format!(
                "a 0403:6001 is attached at {} but its serial is FT5XYZ99, not FT5XYZ12",
                seen.location
            )
        }
    );
    assert!(!report.all_found());
    drop(wrong);
    wait_for("FT5XYZ99 gone", Duration::from_secs(10), || {
        attached()
            .iter()
            .all(|d| d.serial.as_deref() != Some("FT5XYZ99"))
    });

    // Rack-a's own: the slot's USB serial adapter and its ST-Link, each on its own bus.
    let _uart = Gadget::plug("uart", (0x0403, 0x6001, "FT5XYZ12"), "FT232R USB UART", 0);
    let _probe = Gadget::plug(
        "probe",
        (0x0483, 0x374b, "066DFF485550755187121723"),
        "STM32 STLink",
        1,
    );
    let uart = enumerated("FT5XYZ12");
    let probe = enumerated("066DFF485550755187121723");
    assert_eq!(uart.kind, DeviceKind::SerialAdapter);
    assert_eq!(probe.kind, DeviceKind::DebugProbe);
    assert_eq!(uart.product.as_deref(), Some("FT232R USB UART"));
    assert_eq!(uart.manufacturer.as_deref(), Some("rigor kernel tests"));
    // The tty discovery names is the host side's device node the kernel made.
    assert_eq!(uart.ttys.len(), 1);
    assert!(uart.ttys[0].starts_with("/dev/ttyACM"), "{:?}", uart.ttys);
    assert!(Path::new(&uart.ttys[0]).exists());

    let report = match_rig(&rig, &attached());
    let verdicts: Vec<(&str, &str, &Verdict)> = report
        .channels
        .iter()
        .map(|c| (c.slot.as_str(), c.channel.as_str(), &c.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "a1",
                "probe",
                &Verdict::Found {
                    location: probe.location.clone(),
                    ttys: probe.ttys.clone()
                }
            ),
            (
                "a1",
                "serial.uart0",
                &Verdict::Found {
                    location: uart.location.clone(),
                    ttys: uart.ttys.clone()
                }
            ),
        ]
    );
    assert!(report.all_found(), "{}", report.to_text());
    assert_ne!(uart.location, probe.location);
}
