//! Flashing into QEMU's lm3s6965evb through QEMU's own GDB stub, a peer rigor did not write: the
//! board boots one build of the fixture firmware, rigor flashes another over GDB remote, and the
//! console shows the new version after the reset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use rigor_console::ConsoleSession;
use rigor_gdb_remote::{GdbFlasher, GdbRemote, ResetMethod};
use rigor_hal::{Blame, FirmwareImage, Flasher, HalError, ImageFormat};
use rigor_qemu::{QemuConfig, QemuMachine};

const ANSWER: Duration = Duration::from_secs(10);

/// Versions 1.0.0 and 2.0.0 of the fixture firmware, built once.
fn images() -> &'static (PathBuf, PathBuf) {
    static IMAGES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let target = exe.ancestors().nth(3).unwrap().join("qemu-fridge-fw");
        (
            rigor_qemu::firmware::build(&target, "1.0.0", false).unwrap(),
            rigor_qemu::firmware::build(&target, "2.0.0", false).unwrap(),
        )
    })
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn image(path: &PathBuf, format: ImageFormat, base: Option<u64>) -> FirmwareImage {
    FirmwareImage {
        name: path.display().to_string(),
        bytes: std::fs::read(path).unwrap().into(),
        format,
        base_address: base,
    }
}

/// A machine running version 1.0.0 with its GDB stub on a free port, and its console open.
async fn running_v1() -> (QemuMachine, ConsoleSession, SocketAddr) {
    let gdb = free_port();
    let mut config = QemuConfig::new(&images().0);
    config.gdb = Some(gdb);
    let machine = QemuMachine::start(&config).await.unwrap();
    let console = machine.open_console(115_200).await.unwrap();
    let mut session = ConsoleSession::start(Box::new(console));
    machine.cont().await.unwrap();
    session
        .expect(&Regex::new(r"fw 1\.0\.0 serial").unwrap(), ANSWER)
        .await
        .unwrap();
    (machine, session, gdb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_build_flashed_over_gdb_remote_runs_after_the_reset() {
    let (_machine, mut console, gdb) = running_v1().await;
    let stub = GdbRemote::connect(&gdb.to_string(), ANSWER).await.unwrap();
    let packet_size = stub.packet_size();
    drop(stub);

    let mut flasher = GdbFlasher::new(gdb.to_string(), ResetMethod::Monitor("system_reset".into()));
    let report = flasher
        .flash(&image(&images().1, ImageFormat::Elf, None), true)
        .await
        .unwrap();
    assert!(report.verified && report.bytes_written > 1000, "{report:?}");
    assert!(
        flasher.largest_packet() <= packet_size,
        "sent {} bytes in a packet; the stub takes {packet_size}",
        flasher.largest_packet()
    );
    // The core read the new vector table at the reset and booted the new build.
    console
        .expect(
            &Regex::new(r"fridge-ctl qemu fw 2\.0\.0 serial").unwrap(),
            ANSWER,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_outside_the_boards_memory_is_refused_naming_the_address() {
    let (_machine, _console, gdb) = running_v1().await;
    let mut flasher = GdbFlasher::new(gdb.to_string(), ResetMethod::None);
    // Nothing is mapped at 0x1000_0000 on this board.
    let err = flasher
        .flash(
            &image(&images().0, ImageFormat::Bin, Some(0x1000_0000)),
            true,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("0x10000000"), "{text}");
    assert!(matches!(err, HalError::Refused { .. }), "{err:?}");
    // A raw binary without a base address cannot be placed at all.
    let err = flasher
        .flash(&image(&images().0, ImageFormat::Bin, None), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a base address"), "{err}");
}

#[tokio::test]
async fn a_stub_that_is_not_there_is_the_rigs_fault() {
    let mut flasher = GdbFlasher::new(free_port().to_string(), ResetMethod::None)
        .with_timeout(Duration::from_secs(2));
    let err = flasher.reset().await.unwrap_err();
    assert_eq!(err.blame(), Blame::Rig, "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot reach the GDB stub at 127.0.0.1:"),
        "{err}"
    );
}
