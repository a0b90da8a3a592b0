//! The firmware under test, built once per test binary, and a machine running it with its
//! console open.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use rigor_console::{ConsoleSession, LineEnding};
use rigor_qemu::{GpioPort, QemuConfig, QemuMachine, tmp105_device};

/// How long the firmware may take to answer; TCG boots it in milliseconds.
pub const ANSWER: Duration = Duration::from_secs(10);
/// The fixture's sensor device id.
pub const SENSOR_ID: &str = "temp0";
/// The fixture's door switch: PG0, an input of the device.
pub const DOOR: (GpioPort, u32) = (GpioPort::G, 0);
/// The fixture's LED: PF0, an output of the device.
pub const LED: (GpioPort, u32) = (GpioPort::F, 0);
/// The serial number the fixture is built with by default.
pub const SERIAL: &str = "QF-000001";

/// Firmware images of `fixtures/qemu-fridge-fw`.
pub struct Images {
    /// Version 1.0.0.
    pub v1: PathBuf,
    /// Version 2.0.0.
    pub v2: PathBuf,
    /// Version 1.0.0 built with the `lockup` feature.
    pub lockup: PathBuf,
}

/// The images, built on first use into `<target>/qemu-fridge-fw` (the firmware is its own
/// workspace and cross-compiles, so it gets its own target directory).
pub fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let target = target_dir().join("qemu-fridge-fw");
        Images {
            v1: build(&target, "1.0.0", false),
            v2: build(&target, "2.0.0", false),
            lockup: build(&target, "1.0.0", true),
        }
    })
}

/// The workspace's target directory: the test binary is `<target>/<profile>/deps/<name>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

fn build(target: &Path, version: &str, lockup: bool) -> PathBuf {
    rigor_qemu::firmware::build(target, version, lockup).unwrap()
}

pub fn re(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

/// The fixture's machine: `image` on an lm3s6965evb with a TMP105 on I2C0.
pub fn config(image: &Path) -> QemuConfig {
    QemuConfig::new(image).device(tmp105_device(SENSOR_ID, 0x48))
}

/// Starts `config`, opens the console, lets the guest run and waits for the banner; returns the
/// banner's version and serial.
pub async fn boot(config: &QemuConfig) -> (QemuMachine, ConsoleSession, String, String) {
    let machine = QemuMachine::start(config).await.unwrap();
    boot_started(machine).await
}

/// As [`boot`], for a machine already started (and set up further).
pub async fn boot_started(machine: QemuMachine) -> (QemuMachine, ConsoleSession, String, String) {
    let console = machine.open_console(115_200).await.unwrap();
    let mut session = ConsoleSession::start(Box::new(console));
    machine.cont().await.unwrap();
    let banner = session
        .expect(
            &re(r"fridge-ctl qemu fw (?P<version>\S+) serial (?P<serial>\S+)\r\n> "),
            ANSWER,
        )
        .await
        .unwrap();
    let version = banner.captures["version"].clone();
    let serial = banner.captures["serial"].clone();
    (machine, session, version, serial)
}

/// Sends a command and returns the answer line (without the prompt after it).
pub async fn ask(session: &mut ConsoleSession, command: &str) -> String {
    session.send(command, LineEnding::CrLf, None).await.unwrap();
    let answer = session
        .expect(&re(r"(?P<answer>[^\r\n]*)\r\n> "), ANSWER)
        .await
        .unwrap();
    answer.captures["answer"].clone()
}
