//! The serial backend and the expect engine together, on real pseudo-terminals: the test plays
//! the device on the master side, `SerialConsole` opens the slave like any serial port.
#![cfg(feature = "serial")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use regex::Regex;
use rigor_console::{
    ConsoleSession, Direction, ExpectError, LineEnding, PortSelector, SerialConsole,
};
use serialport::{SerialPort, TTYPort};

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

/// The device's end of a pty, and the path a console opens.
struct Device {
    master: TTYPort,
    /// Kept open so the tty's settings can be read back and bytes written before the console
    /// opens are kept for it.
    slave: TTYPort,
    path: String,
}

impl Device {
    fn new() -> Device {
        let (mut master, slave) = TTYPort::pair().unwrap();
        master.set_timeout(Duration::from_secs(5)).unwrap();
        let path = slave.name().unwrap();
        Device {
            master,
            slave,
            path,
        }
    }

    fn say(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }

    /// Reads what the console sent until it ends with `end`.
    fn heard_until(&mut self, end: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(end) {
            let n = self.master.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        got
    }
}

fn console_on(path: impl AsRef<Path>) -> ConsoleSession {
    let port = SerialConsole::open(PortSelector::path(path.as_ref()), 115_200).unwrap();
    ConsoleSession::start(Box::new(port))
}

/// Waits until `condition` holds, looking every few milliseconds; false if it never did.
async fn eventually(within: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banner_is_matched_with_its_named_captures() {
    let mut device = Device::new();
    let mut console = console_on(&device.path);
    device.say(b"\r\nfridge-ctl gen2 fw 2.1.0 (build 4711)\r\n");
    let m = console
        .expect(
            &re(r"fridge-ctl (?P<gen>gen\d) fw (?P<fw>\S+) \(build (?P<build>\d+)\)"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(m.captures["gen"], "gen2");
    assert_eq!(m.captures["fw"], "2.1.0");
    assert_eq!(m.captures["build"], "4711");
    assert!(m.at <= console.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_expect_does_not_consume_what_the_second_needs() {
    let mut device = Device::new();
    let mut console = console_on(&device.path);
    // One write: both lines arrive in the same read.
    device.say(b"boot: fw 1.2.0\r\nselftest: ok\r\nfridge> ");
    let fw = console
        .expect(&re(r"fw (?P<fw>\S+)"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(fw.captures["fw"], "1.2.0");
    let selftest = console
        .expect(&re(r"selftest: (?P<result>\w+)"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(selftest.captures["result"], "ok");
    assert_eq!(selftest.before, "\r\n");
    console
        .expect(&re("fridge> "), Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_partial_line_time_out_with_a_useful_message_and_do_not_wedge() {
    let mut device = Device::new();
    let mut console = console_on(&device.path);
    let temp = re(r"temp: (?P<t>[\d.]+) °C");
    device.say(b"\xff\xfe\x00noise\x1b[0m temp: 4.2");
    let err = console
        .expect(&temp, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, ExpectError::NotSeen { .. }));
    assert_eq!(
        err.to_string(),
        "`temp: (?P<t>[\\d.]+) °C` not seen within 300ms; \
         last output: \"\u{fffd}\u{fffd}\\0noise\\u{1b}[0m temp: 4.2\""
    );
    // The rest of the line comes, its degree sign split across two writes.
    device.say(b"5 \xc2");
    device.say(b"\xb0C\r\n");
    let m = console.expect(&temp, Duration::from_secs(5)).await.unwrap();
    assert_eq!(m.captures["t"], "4.25");
    assert_eq!(
        console.transcript().received(),
        b"\xff\xfe\x00noise\x1b[0m temp: 4.25 \xc2\xb0C\r\n",
        "the transcript keeps the raw bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_sends_reach_the_device_byte_by_byte() {
    let mut device = Device::new();
    let console = console_on(&device.path);
    console
        .send("AT+RST", LineEnding::CrLf, Some(Duration::from_millis(2)))
        .await
        .unwrap();
    assert_eq!(device.heard_until(b"\r\n"), b"AT+RST\r\n");
    let sent = console
        .transcript()
        .entries()
        .filter(|e| e.direction == Direction::Sent)
        .map(|e| e.bytes.clone())
        .collect::<Vec<_>>();
    assert_eq!(sent.len(), 8);
    assert!(sent.iter().all(|b| b.len() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baud_rate_changes_mid_session() {
    let mut device = Device::new();
    let mut console = console_on(&device.path);
    assert_eq!(device.slave.baud_rate().unwrap(), 115_200);
    console.set_baud(9600).await.unwrap();
    assert_eq!(device.slave.baud_rate().unwrap(), 9600);
    device.say(b"bootloader done\r\n");
    console
        .expect(&re("bootloader done"), Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_vanishes_and_reappears_behind_its_by_id_link_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-FTDI_FT232R_FT5XYZ12-if00-port0");
    // udev replaces a by-id link atomically: a new link renamed over the old one.
    let point = |target: &str| {
        let fresh = dir.path().join("fresh");
        std::os::unix::fs::symlink(target, &fresh).unwrap();
        std::fs::rename(&fresh, &link).unwrap();
    };
    let mut first = Device::new();
    point(&first.path);
    let mut console = console_on(&link);
    first.say(b"before\r\n");
    console
        .expect(&re("before"), Duration::from_secs(5))
        .await
        .unwrap();

    // The adapter drops off the bus...
    drop(first);
    assert!(eventually(Duration::from_secs(5), || !console.is_connected()).await);
    // ...and comes back under another name, which the link now points at.
    let mut second = Device::new();
    point(&second.path);
    assert!(eventually(Duration::from_secs(10), || console.is_connected()).await);
    second.say(b"after\r\n");
    let m = console
        .expect(&re("after"), Duration::from_secs(5))
        .await
        .unwrap();
    // What was buffered before the port vanished is kept, and nothing else came in between.
    assert_eq!(m.before, "\r\n");

    let events = console.transcript().events();
    assert_eq!(events.len(), 2, "{events:?}");
    let link = link.display().to_string();
    assert!(
        events[0].starts_with(&format!("{link} vanished: {link} is gone: ")),
        "{events:?}"
    );
    assert!(
        events[1].starts_with(&format!("{link} reopened after ")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcript_has_both_directions_line_by_line() {
    let mut device = Device::new();
    let mut console = console_on(&device.path);
    device.say(b"boot: fw 1.2.0\r\nfridge> ");
    console
        .expect(&re("fridge> "), Duration::from_secs(5))
        .await
        .unwrap();
    console
        .send("version", LineEnding::CrLf, None)
        .await
        .unwrap();
    assert_eq!(device.heard_until(b"\r\n"), b"version\r\n");
    device.say(b"fw 1.2.0\r\nfridge> ");
    console
        .expect(&re(r"fw 1\.2\.0\r\nfridge> "), Duration::from_secs(5))
        .await
        .unwrap();

    let text = console.transcript().to_text();
    let stamp = re(r"^\[ *(\d+\.\d{3})\] ([<>!]) (.*)$");
    let lines: Vec<(f64, String)> = text
        .lines()
        .map(|l| {
            let c = stamp
                .captures(l)
                .unwrap_or_else(|| panic!("{l:?} in\n{text}"));
            (c[1].parse().unwrap(), format!("{} {}", &c[2], &c[3]))
        })
        .collect();
    let said: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        said,
        [
            "< boot: fw 1.2.0",
            "< fridge> ",
            "> version",
            "< fw 1.2.0",
            "< fridge> "
        ],
        "{text}"
    );
    assert!(lines.windows(2).all(|w| w[0].0 <= w[1].0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_is_held_exclusively_and_free_once_the_session_is_closed() {
    let device = Device::new();
    let console = console_on(&device.path);
    let second = SerialConsole::open(PortSelector::path(&device.path), 115_200);
    assert!(second.is_err(), "two consoles on one port");
    console.close().await;
    SerialConsole::open(PortSelector::path(&device.path), 115_200).unwrap();
}
