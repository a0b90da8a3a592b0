//! The QEMU rig end to end: `rigor run` starts QEMU's lm3s6965evb with blank flash, flashes the
//! fixture firmware over GDB remote, checks it, reflashes a newer signed build; a downgrade and a
//! badly signed build are refused and recorded as such.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{exited, rigor, rows};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// Builds 0.9.0, 1.0.0 and 2.0.0 of the firmware once.
fn builds() -> &'static [(String, PathBuf)] {
    static BUILDS: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    BUILDS.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let target = exe.ancestors().nth(3).unwrap().join("qemu-fridge-fw");
        ["0.9.0", "1.0.0", "2.0.0"]
            .iter()
            .map(|v| {
                let elf = rigor_qemu::firmware::build(&target, v, false).unwrap();
                ((*v).to_owned(), elf)
            })
            .collect()
    })
}

/// A build folder with every version, signed with `key`.
fn signed_builds(dir: &Path, key: &rigor_image::SecretKey) {
    for (version, elf) in builds() {
        let image = dir.join(format!("qemu-fridge-fw-{version}.elf"));
        std::fs::copy(elf, &image).unwrap();
        rigor_image::sign_file(
            &image,
            key,
            "qemu-fridge",
            "lm3s6965",
            &version.parse().unwrap(),
        )
        .unwrap();
    }
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    rigor()
        .args(["run", "--rig", "qemu", "--scenario", "qemu-reflash"])
        .args(["--unit", "QF-000001", "--firmware"])
        .arg(dir)
        .arg("--store")
        .arg(dir.join("rigor.db"))
        .args(extra)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap()
}

#[test]
fn real_firmware_is_flashed_checked_and_reflashed_over_gdb_remote() {
    let dir = tempfile::tempdir().unwrap();
    signed_builds(
        dir.path(),
        &rigor_bench::firmware::demo_release_key("lm3s6965").unwrap(),
    );
    let out = run(dir.path(), &[]);
    exited(&out, 0);
    let db = dir.path().join("rigor.db");
    let measured = rows(
        &db,
        "SELECT name || ' ' || CASE WHEN value IS NULL THEN text_value ELSE printf('%.4f', value) END \
         FROM measurements ORDER BY seq",
    );
    assert_eq!(
        measured,
        [
            "fw_version 1.0.0",
            "temp_cool 21.5000",
            "temp_warm 36.0000",
            "fw_version_after 2.0.0"
        ]
    );
    // The run names what it flashed first, by digest and the manifest's version.
    let firmware = rows(&db, "SELECT firmware_version FROM runs");
    assert_eq!(firmware, ["1.0.0"]);
}

#[test]
fn a_downgrade_and_a_badly_signed_build_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    signed_builds(
        dir.path(),
        &rigor_bench::firmware::demo_release_key("lm3s6965").unwrap(),
    );
    // A refused build is the scenario's problem, not the rig's: exit 7.
    let out = run(dir.path(), &["--param", "first=0.9.0"]);
    assert_eq!(out.status.code(), Some(7));

    let stranger = tempfile::tempdir().unwrap();
    signed_builds(stranger.path(), &rigor_image::SecretKey::generate());
    let out = run(stranger.path(), &[]);
    assert_eq!(out.status.code(), Some(7));

    let ends = |db: &Path| {
        rows(
            db,
            "SELECT outcome || ' ' || failure_class || ': ' || message FROM run_ends",
        )
    };
    let downgrade = ends(&dir.path().join("rigor.db"));
    assert!(
        downgrade[0].starts_with("error scenario: refused: ")
            && downgrade[0].ends_with("is version 0.9.0, below lm3s6965's anti-rollback floor 1.0.0: a downgrade is refused"),
        "{downgrade:?}"
    );
    let unsigned = ends(&stranger.path().join("rigor.db"));
    assert!(
        unsigned[0].contains("which lm3s6965 does not trust; it trusts release-qemu"),
        "{unsigned:?}"
    );
}

#[test]
fn firmware_that_locks_the_cpu_up_is_a_dead_device_not_a_rig_failure() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().join("qemu-fridge-fw");
    // Boots and prints its banner, then faults on its first command; QEMU aborts (exit 134).
    let lockup = rigor_qemu::firmware::build(&target, "1.0.0", true).unwrap();
    let image = dir.path().join("qemu-fridge-fw-1.0.0.elf");
    std::fs::copy(lockup, &image).unwrap();
    let key = rigor_bench::firmware::demo_release_key("lm3s6965").unwrap();
    rigor_image::sign_file(
        &image,
        &key,
        "qemu-fridge",
        "lm3s6965",
        &"1.0.0".parse().unwrap(),
    )
    .unwrap();
    let out = run(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let end = rows(
        &dir.path().join("rigor.db"),
        "SELECT outcome || ' ' || failure_class || ': ' || message FROM run_ends",
    );
    assert!(
        end[0].starts_with("fail device: ") && end[0].contains("it is dead: qemu"),
        "{end:?}"
    );
}

/// The README's QEMU command: the firmware built, signed and flashed by one documented command,
/// from a folder that is not a checkout, writing its files where it runs.
#[test]
fn rigor_demo_on_the_qemu_rig_builds_signs_and_runs_the_reflash() {
    let dir = tempfile::tempdir().unwrap();
    let out = rigor()
        .args(["demo", "--rig", "qemu"])
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = exited(&out, 0);
    assert!(
        stdout.contains("QF-000001 qemu-reflash attempt 1: PASS"),
        "{stdout}"
    );
    let store = dir.path().join("rigor-demo.db");
    assert_eq!(rows(&store, "SELECT firmware_version FROM runs"), ["1.0.0"]);
    assert!(
        dir.path()
            .join("rigor-demo-firmware/qemu-fridge-fw-2.0.0.elf.manifest.json")
            .exists()
    );
}

/// Regression: a blank board was asked its serial and the run waited 20 s before failing.
#[test]
fn a_blank_board_without_a_serial_is_refused_at_once_saying_how_to_give_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = rigor()
        .args([
            "run",
            "--rig",
            "qemu",
            "--scenario",
            "qemu-reflash",
            "--store",
        ])
        .arg(dir.path().join("rigor.db"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot tell its serial; give it with `--unit board=SERIAL`"),
        "{stderr}"
    );
}
