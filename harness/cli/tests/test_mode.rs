//! `rigor test`: the scenarios a rig can run as libtest trials, recorded as `rigor run`
//! records them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{rigor, rows, text};

const SLOTS: [&str; 4] = [
    "--profile=slot1=fridge-ctl-gen1",
    "--profile=slot2=fridge-ctl-gen2",
    "--profile=slot3=fridge-ctl-gen3",
    "--profile=slot4=fridge-ctl-gen2",
];

#[test]
fn ignored_trials_are_the_slow_and_destructive_scenarios() {
    let out = rigor()
        .args(["test", "--rig", "virtual-bench"])
        .args(SLOTS)
        .args(["--list", "--ignored"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.trim_end_matches(": test"))
        .collect();
    assert_eq!(
        names,
        [
            "burn-in::gen1::slot1",
            "burn-in::gen2::slot2",
            "burn-in::gen2::slot4",
            "burn-in::gen3::slot3",
            "ota-update::gen2::slot2",
            "ota-update::gen2::slot4",
            "ota-update::gen3::slot3",
            "provisioning::gen2::slot2",
            "provisioning::gen2::slot4",
            "provisioning::gen3::slot3",
        ]
    );
}

#[test]
fn a_trial_is_recorded_as_rigor_run_records_the_same_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen2", "2.1.0").unwrap();
    let store = dir.path().join("rigor.db");
    let tested = rigor()
        .args([
            "test",
            "--rig",
            "virtual-bench",
            "--unit",
            "slot4=FC2-000444",
        ])
        .args(SLOTS)
        .arg("--firmware")
        .arg(&fw)
        .arg("--store")
        .arg(&store)
        .args(["--exact", "smoke::gen2::slot4"])
        .output()
        .unwrap();
    assert_eq!(tested.status.code(), Some(0), "{}", text(&tested));
    assert!(
        String::from_utf8_lossy(&tested.stdout).contains("1 passed; 0 failed"),
        "{}",
        text(&tested)
    );
    let ran = rigor()
        .args(["run", "--rig", "virtual-bench", "--scenario", "smoke"])
        .args(["--slot", "slot4", "--unit", "FC2-000444"])
        .args(["--profile", "fridge-ctl-gen2", "--firmware"])
        .arg(&fw)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let run = |attempt: u32, sql: &str| {
        rows(
            &store,
            &sql.replace(
                "$RUN",
                &format!("(SELECT id FROM runs WHERE attempt = {attempt})"),
            ),
        )
    };
    let runs = rows(
        &store,
        "SELECT unit_serial || ' ' || scenario_name || ' ' || attempt || ' ' || slot || ' ' || firmware_version FROM runs ORDER BY id",
    );
    assert_eq!(
        runs,
        [
            "FC2-000444 smoke 1 slot4 2.1.0",
            "FC2-000444 smoke 2 slot4 2.1.0"
        ]
    );
    for sql in [
        "SELECT step_id || ' ' || kind || ' ' || outcome FROM steps WHERE run_id = $RUN ORDER BY step_index",
        "SELECT name || ' ' || comparator || ' ' || ifnull(unit, '') FROM measurements WHERE run_id = $RUN ORDER BY seq",
        "SELECT outcome FROM run_ends WHERE run_id = $RUN",
    ] {
        let (first, second) = (run(1, sql), run(2, sql));
        assert!(!first.is_empty(), "{sql}");
        assert_eq!(first, second, "{sql}");
    }
}

#[test]
fn a_failing_trial_exits_as_libtest_does_with_the_measurement_against_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen2", "2.1.0").unwrap();
    let out = rigor()
        .args([
            "test",
            "--rig",
            "virtual-bench",
            "--fault",
            "slot4=stuck-pin",
        ])
        .args(SLOTS)
        .arg("--firmware")
        .arg(&fw)
        .arg("--store")
        .arg(dir.path().join("rigor.db"))
        .args(["smoke::gen2"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(101), "{all}");
    assert!(all.contains("test smoke::gen2::slot2 ... ok"), "{all}");
    assert!(all.contains("test smoke::gen2::slot4 ... FAILED"), "{all}");
    assert!(
        all.contains("alarm_blink = 0 Hz, limits 0.8 <= x <= 1.2 Hz"),
        "{all}"
    );
    assert!(all.contains("1 passed; 1 failed"), "{all}");
}

#[test]
fn a_parameter_no_scenario_declares_and_a_slot_not_used_are_usage_errors() {
    for (args, expected) in [
        (
            vec!["--param", "bulid_dir=fw"],
            "`--param bulid_dir`: write a parameter a scenario declares: build_dir",
        ),
        (
            vec!["--unit", "slot9=FC2-000001"],
            "--unit names slot `slot9`, which this run does not use (slots: gw1, slot1, slot2, slot3, slot4)",
        ),
    ] {
        let out = rigor()
            .args(["test", "--rig", "virtual-bench"])
            .args(SLOTS)
            .args(&args)
            .arg("--list")
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(all.contains(expected), "{all}");
    }
}
