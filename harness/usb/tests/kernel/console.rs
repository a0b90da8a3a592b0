//! The serial console opens rack-a's adapter by USB identity, exchanges bytes with the gadget's
//! side, and finds the adapter again after it re-enumerates.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use regex::Regex;
use rigor_console::{ConsoleSession, PortSelector, SerialConsole, UsbId};
use rigor_model::rig::SerialPort;
use rigor_usb::{SYSFS_USB, discover};

use crate::gadget::{Gadget, wait_for};
use crate::{USB, rack_a};

/// The gadget's side of the serial function, raw.
fn far_end(gadget: &Gadget) -> serialport::TTYPort {
    serialport::new(gadget.tty().to_string_lossy(), 115_200)
        .timeout(Duration::from_secs(5))
        .open_native()
        .unwrap()
}

/// The console to the gadget and back: `ping`, then `pong`, through the session.
async fn exchange(session: &mut ConsoleSession, far: &mut serialport::TTYPort, tag: &str) {
    let ping = format!("ping {tag}\n");
    session.send_bytes(ping.as_bytes(), None).await.unwrap();
    let mut got = vec![0u8; ping.len()];
    far.read_exact(&mut got).unwrap();
    assert_eq!(got, ping.as_bytes());
    far.write_all(format!("pong {tag}\n").as_bytes()).unwrap();
    let pong = Regex::new(&format!("pong {tag}\n")).unwrap();
    session.expect(&pong, Duration::from_secs(5)).await.unwrap();
}

/// Where the adapter is plugged in and its USB device number, once it is enumerated with a tty:
/// a new device number at the same place means a new enumeration.
fn devnum(identity: &UsbId) -> Option<(String, u32)> {
    let d = discover(Path::new(SYSFS_USB))
        .unwrap()
        .into_iter()
        .find(|d| d.serial == identity.serial && !d.ttys.is_empty())?;
    let n = std::fs::read_to_string(Path::new(SYSFS_USB).join(&d.location).join("devnum")).ok()?;
    Some((d.location, n.trim().parse().ok()?))
}

#[test]
fn the_console_reopens_its_adapter_by_usb_identity_after_it_re_enumerates() {
    let _usb = USB.lock().unwrap_or_else(PoisonError::into_inner);
    let rig = rack_a();
    let SerialPort::Usb(text) = &rig.slots["a1"].serial["uart0"] else {
        panic!("rack-a's a1 uart0 is a USB adapter");
    };
    let id: UsbId = text.parse().unwrap();
    let gadget = Gadget::plug(
        "console",
        (id.vid, id.pid, id.serial.as_deref().unwrap()),
        "FT232R USB UART",
        0,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut before = None;
        wait_for("the adapter enumerated", Duration::from_secs(20), || {
            before = devnum(&id);
            before.is_some()
        });
        let (location, first) = before.unwrap();
        let mut far = far_end(&gadget);
        let console = SerialConsole::open(PortSelector::Usb(id.clone()), 115_200).unwrap();
        let path: PathBuf = console.path().unwrap().to_owned();
        assert!(
            path.to_string_lossy().starts_with("/dev/ttyACM"),
            "{path:?}"
        );
        let mut session = ConsoleSession::start(Box::new(console));
        assert_eq!(session.name(), format!("{id} at {}", path.display()));
        exchange(&mut session, &mut far, "before").await;

        // The board is power-cycled mid-session: its adapter drops off the bus...
        drop(far);
        gadget.unbind();
        let deadline = Instant::now() + Duration::from_secs(5);
        while session.is_connected() {
            assert!(
                Instant::now() < deadline,
                "the session did not notice the adapter left"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // ...and comes back: the session reopens it by identity, on whatever node it got.
        gadget.bind();
        let mut far = far_end(&gadget);
        exchange(&mut session, &mut far, "after").await;
        assert!(session.is_connected());
        let (again_at, second) = devnum(&id).expect("the adapter is back");
        assert_eq!(again_at, location);
        assert_ne!(second, first, "a new enumeration gives a new device number");
        session.close().await;
    });
}
