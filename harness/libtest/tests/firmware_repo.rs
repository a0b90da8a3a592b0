//! The worked example of a firmware repository (`examples/firmware-repo`) under `cargo test`
//! and `cargo nextest`: its trial list, a filtered run, a failing trial's message, the exit
//! codes. The example is its own cargo project; it is built once, beside this workspace's
//! target folder, with this workspace's lock file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/firmware-repo")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("firmware-repo")
}

/// `cargo <args>` in the example, with its build beside this workspace's.
fn cargo(args: &[&str], firmware: Option<&Path>) -> Output {
    // Cargo's own options go before `--`; what follows is the test binary's.
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(example())
        .args(&args[..split])
        .arg("--offline")
        .arg("--target-dir")
        .arg(target_dir())
        .args(&args[split..])
        // The outer `cargo test`'s settings are not the example's.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("FIRMWARE_DIR");
    if let Some(dir) = firmware {
        command.env("FIRMWARE_DIR", dir);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Builds the example's test binary once for every test here.
fn built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        // The example resolves exactly the versions this workspace tested.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        std::fs::copy(root.join("Cargo.lock"), example().join("Cargo.lock")).unwrap();
        let out = cargo(&["test", "--test", "hil", "--no-run"], None);
        assert!(out.status.success(), "{}", text(&out));
        // The example's store lives as long as its build folder: start from none, so a store
        // left by an older rigor is not read.
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(target_dir().join(format!("tmp/hil.db{suffix}")));
        }
    });
}

/// Builds of the three generations, gen2's at `gen2`.
fn builds(dir: &Path, gen2: &str) {
    for (generation, version) in [("gen1", "1.4.2"), ("gen2", gen2), ("gen3", "3.0.2")] {
        rigor_bench::firmware::write_build(dir, "fridge-ctl", generation, version).unwrap();
    }
}

#[test]
fn cargo_test_lists_every_scenario_on_every_slot_as_libtest_does() {
    built();
    let out = cargo(
        &[
            "test", "-q", "--test", "hil", "--", "--list", "--format", "terse",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
    let ignored = cargo(
        &["test", "-q", "--test", "hil", "--", "--list", "--ignored"],
        None,
    );
    let listed = String::from_utf8_lossy(&ignored.stdout);
    let names: Vec<&str> = listed.lines().filter(|l| l.ends_with(": test")).collect();
    assert!(!names.is_empty(), "{listed}");
    assert!(
        names
            .iter()
            .all(|l| ["burn-in::", "ota-update::", "provisioning::"]
                .iter()
                .any(|p| l.starts_with(p))),
        "only the slow and destructive scenarios are ignored: {listed}"
    );
}

#[test]
fn cargo_test_runs_a_filtered_set_and_reports_a_failing_measurement_with_its_limits() {
    built();
    let out = cargo(&["test", "--test", "hil", "--", "smoke::gen1"], None);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("test smoke::gen1::slot1 ... ok"), "{all}");
    assert!(all.contains("1 passed; 0 failed"), "{all}");

    // Build 2.1.1 scales its sensor wrongly: the gen2 smoke test fails on the reading.
    let dir = tempfile::tempdir().unwrap();
    builds(dir.path(), "2.1.1");
    let out = cargo(
        &[
            "test",
            "--test",
            "hil",
            "--",
            "--exact",
            "smoke::gen2::slot2",
        ],
        Some(dir.path()),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(101), "{all}");
    assert!(all.contains("test smoke::gen2::slot2 ... FAILED"), "{all}");
    assert!(all.contains("firmware_temp = "), "{all}");
    assert!(all.contains("limits 2 <= x <= 8 °C"), "{all}");
    assert!(all.contains("0 passed; 1 failed"), "{all}");
}

#[test]
fn cargo_nextest_sees_and_runs_the_trials() {
    built();
    let out = cargo(&["nextest", "list", "--test", "hil"], None);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("smoke::gen3::slot3"), "{all}");

    let dir = tempfile::tempdir().unwrap();
    builds(dir.path(), "2.1.1");
    let out = cargo(
        &[
            "nextest",
            "run",
            "--test",
            "hil",
            "--no-fail-fast",
            "-E",
            "test(/^smoke::/)",
        ],
        Some(dir.path()),
    );
    let all = text(&out);
    // nextest's own code for failed tests.
    assert_eq!(out.status.code(), Some(100), "{all}");
    for passed in ["smoke::gen1::slot1", "smoke::gen3::slot3"] {
        assert!(
            all.lines()
                .any(|l| l.contains("PASS") && l.contains(passed)),
            "{all}"
        );
    }
    assert!(
        all.lines()
            .any(|l| l.contains("FAIL") && l.contains("smoke::gen2::slot2")),
        "{all}"
    );
    assert!(all.contains("limits 2 <= x <= 8 °C"), "{all}");
    assert!(all.contains("3 tests run: 2 passed, 1 failed"), "{all}");
}
