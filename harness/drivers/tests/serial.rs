//! The serial console on real pseudo-terminals, through the engine's expect engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rigor_drivers::serial::{PortName, SerialConsole};
use rigor_runner::console::Console;
use serialport::{SerialPort, TTYPort};

fn re(s: &str) -> regex::Regex {
    regex::Regex::new(s).unwrap()
}

/// A pty pair: the device's end (master) and the path a console opens (slave).
fn pty() -> (TTYPort, String) {
    let (master, slave) = TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    // The slave stays open through the console; this handle is not needed.
    drop(slave);
    (master, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banner_and_a_command_over_a_pty() {
    let (mut device, path) = pty();
    let console = Console::start(Box::new(
        SerialConsole::open(PortName::Path(path), 115_200).unwrap(),
    ));
    device
        .write_all(b"fridge-ctl gen2 fw 2.1.0\r\nfridge> ")
        .unwrap();
    let m = console
        .expect(&re(r"fw (?P<fw>\S+)"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(m.captures["fw"], "2.1.0");
    console
        .send(b"version\r\n", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    device.set_timeout(Duration::from_secs(5)).unwrap();
    while !got.ends_with(b"\r\n") {
        let n = device.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"version\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_vanishes_and_reappears_is_reopened_by_its_stable_name() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-FTDI_FT232R_FT5XYZ12-if00-port0");
    let (mut first, path) = pty();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let name = PortName::Path(link.display().to_string());
    let console = Console::start(Box::new(SerialConsole::open(name, 115_200).unwrap()));
    first.write_all(b"before\r\n").unwrap();
    console
        .expect(&re("before"), Duration::from_secs(5))
        .await
        .unwrap();

    // The adapter drops off the bus (the master side hangs up) and comes back as another pty,
    // which the by-id link now names, as udev would do.
    drop(first);
    let (second, path) = pty();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    // The device keeps printing until rigor hears it: it cannot know when rigor reopened.
    let stop = Arc::new(AtomicBool::new(false));
    let talking = stop.clone();
    let device = std::thread::spawn(move || {
        let mut second = second;
        while !talking.load(Ordering::Relaxed) {
            let _ = second.write_all(b"after\r\n");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let m = console.expect(&re("after"), Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    device.join().unwrap();
    assert_eq!(m.unwrap().text, "after");
    assert!(
        console.transcript().contains("reopened"),
        "{}",
        console.transcript()
    );
}
