//! The virtual bench end to end: `rigor run` and `rigor demo` against simulated units reached
//! through a pty and Modbus TCP, the store read back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{exited, rigor, rows};

use std::path::Path;
use std::process::Command;

#[test]
fn every_generation_passes_smoke_on_its_good_build() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for (generation, version, serial) in [
        ("gen1", "1.4.2", "FC1-000900"),
        ("gen2", "2.1.0", "FC2-000900"),
        ("gen3", "3.0.2", "FC3-000900"),
    ] {
        let fw = dir.path().join(generation);
        let image =
            rigor_bench::firmware::write_build(&fw, "fridge-ctl", generation, version).unwrap();
        images.push(image);
        let store = dir.path().join("rigor.db");
        let out = rigor()
            .args([
                "run",
                "--rig",
                "virtual-bench",
                "--scenario",
                "smoke",
                "--slot",
                "slot1",
                "--unit",
                serial,
            ])
            .args(["--profile", &format!("fridge-ctl-{generation}")])
            .arg("--firmware")
            .arg(&fw)
            .arg("--store")
            .arg(&store)
            .env("XDG_RUNTIME_DIR", dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{generation}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("alarm_blink ... ok") && stdout.contains("sensor_temp ... ok"),
            "{stdout}"
        );
    }
    let outcomes = rows(&dir.path().join("rigor.db"), "SELECT outcome FROM run_ends");
    assert_eq!(outcomes, ["pass", "pass", "pass"]);
    // Each run names the image it flashed by its digest, as coreutils computes it, and the wear
    // of its fixture (each generation has its own, first used here).
    let sha256sum = Command::new("sha256sum").args(&images).output().unwrap();
    let expected: Vec<String> = String::from_utf8_lossy(&sha256sum.stdout)
        .lines()
        .map(|l| format!("{} 1", &l[..64]))
        .collect();
    let recorded = rows(
        &dir.path().join("rigor.db"),
        "SELECT firmware_sha256 || ' ' || fixture_insertions FROM runs ORDER BY id",
    );
    assert_eq!(recorded, expected);
}

#[test]
fn the_demo_catches_the_buggy_build_and_the_faulty_unit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("demo.db");
    let junit = dir.path().join("demo.xml");
    let out = rigor()
        .arg("demo")
        .arg("--store")
        .arg(&store)
        .arg("--junit")
        .arg(&junit)
        .arg("--firmware")
        .arg(dir.path().join("fw"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = exited(&out, 0);
    assert!(
        stdout.contains("first-pass yield: 2/4 units passed every scenario at their first attempt"),
        "{stdout}"
    );
    let by_unit = rows(
        &store,
        "SELECT r.unit_serial || ' ' || r.scenario_name || ' ' || e.outcome FROM runs r JOIN run_ends e ON e.run_id = r.id \
         ORDER BY r.unit_serial, r.scenario_name",
    );
    // Provisioning and network resilience run only where there is an EEPROM and an uplink (not
    // on gen1), each in a session of its own on the console: the one before released the port.
    assert_eq!(
        by_unit,
        [
            "FC1-000101 smoke pass",
            "FC2-000201 network-resilience pass",
            "FC2-000201 provisioning pass",
            "FC2-000201 smoke fail",
            "FC2-000202 gateway-sensors pass",
            "FC2-000202 network-resilience pass",
            "FC2-000202 provisioning pass",
            "FC2-000202 smoke fail",
            "FC3-000301 gateway-sensors pass",
            "FC3-000301 network-resilience pass",
            "FC3-000301 provisioning pass",
            "FC3-000301 smoke pass",
            "GW1-000501 gateway-sensors pass",
        ]
    );
    // The multi-device scenario's three units are one session: one id, a role each.
    let session = rows(
        &store,
        "SELECT count(DISTINCT s.session_id) || ' ' || group_concat(s.role || '=' || r.unit_serial, ' ') \
         FROM (SELECT * FROM run_sessions ORDER BY role) s JOIN runs r ON r.id = s.run_id",
    );
    assert_eq!(
        session,
        ["1 gateway[0]=GW1-000501 sensor[0]=FC3-000301 sensor[1]=FC2-000202"]
    );
    // The buggy build fails on the firmware's temperature, at twice the sensor's 4.25 °C (± its offset).
    let failed = rows(
        &store,
        "SELECT r.unit_serial || ' ' || m.name || ' ' || printf('%.1f', m.value) FROM measurements m JOIN runs r ON r.id = m.run_id \
         WHERE m.outcome = 'fail' ORDER BY r.unit_serial",
    );
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].starts_with("FC2-000201 firmware_temp 8."),
        "{failed:?}"
    );
    assert_eq!(failed[1], "FC2-000202 alarm_blink 0.0");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("type=\"device\""), "{xml}");
    // Scenarios that flash nothing record the firmware the unit carries: what smoke put on it.
    let firmware = rows(
        &store,
        "SELECT r.unit_serial || ' ' || r.scenario_name || ' ' || ifnull(r.firmware_version, 'none') FROM runs r \
         WHERE r.scenario_name <> 'smoke' ORDER BY r.unit_serial, r.scenario_name",
    );
    assert_eq!(
        firmware,
        [
            "FC2-000201 network-resilience 2.1.1",
            "FC2-000201 provisioning 2.1.1",
            "FC2-000202 gateway-sensors 2.1.0",
            "FC2-000202 network-resilience 2.1.0",
            "FC2-000202 provisioning 2.1.0",
            "FC3-000301 gateway-sensors 3.0.2",
            "FC3-000301 network-resilience 3.0.2",
            "FC3-000301 provisioning 3.0.2",
            "GW1-000501 gateway-sensors 1.0.0",
        ]
    );
    // ... and the image's digest: the one smoke flashed.
    let other_image = rows(
        &store,
        "SELECT CAST(count(*) AS TEXT) FROM runs r JOIN runs s ON s.unit_serial = r.unit_serial AND s.scenario_name = 'smoke' \
         WHERE r.scenario_name <> 'smoke' AND r.firmware_sha256 IS NOT s.firmware_sha256",
    );
    assert_eq!(other_image, ["0"]);
    // Regression: the provisioning and network-resilience suites had no firmware properties.
    for scenario in ["provisioning", "network-resilience"] {
        let xml = std::fs::read_to_string(dir.path().join(format!("demo.{scenario}.xml"))).unwrap();
        let suites = xml.matches("<testsuite ").count();
        let versions = xml.matches("<property name=\"firmware.version\"").count();
        assert!(suites == 3 && versions == suites, "{xml}");
    }
}

/// Runs smoke on a gen2 unit with `fault` in slot1; returns the exit code, stdout and the run's end row.
fn with_fault(fault: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    with_fault_in(dir.path(), fault)
}

/// As [`with_fault`], with the store in `dir`.
fn with_fault_in(dir: &Path, fault: &str) -> (Option<i32>, String, String) {
    let fw = dir.join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen2", "2.1.0").unwrap();
    let store = dir.join("rigor.db");
    let out = rigor()
        .args([
            "run",
            "--rig",
            "virtual-bench",
            "--scenario",
            "smoke",
            "--slot",
            "slot1",
            "--unit",
            "FC2-000777",
        ])
        .args([
            "--profile",
            "fridge-ctl-gen2",
            "--fault",
            &format!("slot1={fault}"),
        ])
        .arg("--param")
        .arg(format!("build_dir={}", fw.display()))
        .arg("--store")
        .arg(&store)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap();
    let end = rows(
        &store,
        "SELECT outcome || ' ' || coalesce(failure_class, '-') || ': ' || coalesce(message, '') FROM run_ends",
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        end.join("\n"),
    )
}

/// The console transcript of every run in `store`.
fn transcripts(store: &Path) -> String {
    rows(
        store,
        "SELECT CAST(b.content AS TEXT) FROM run_artifacts a JOIN artifact_blobs b ON b.sha256 = a.sha256 \
         WHERE a.name = 'console.log'",
    )
    .join("\n")
}

#[test]
fn each_fault_ends_in_its_classified_outcome_with_teardown_done() {
    // A dead unit never prints its banner: the device failed, the run stopped, teardown ran.
    let (code, stdout, end) = with_fault("dead");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        end.starts_with("fail device: `fridge-ctl (?P<generation>gen\\d) fw"),
        "{end}"
    );
    assert!(
        stdout.contains("[slot1] idle_current ... skipped")
            && stdout.contains("[slot1] safe-state ... ok"),
        "{stdout}"
    );

    // A slow boot misses the banner window the same way.
    let (code, _, end) = with_fault("slow-boot");
    assert_eq!(code, Some(1));
    assert!(
        end.contains("not seen within 3s; the device sent nothing"),
        "{end}"
    );

    // A flaky sensor fails the firmware's self-test.
    let (code, stdout, end) = with_fault("flaky-sensor");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(end.starts_with("fail device: selftest = "), "{end}");

    // Garbage on the console line does not wedge the expect engine: the unit passes.
    let (code, stdout, end) = with_fault("noisy-line");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(end, "pass -: ");

    // A console adapter that drops off the bus when the compressor starts is reopened under its
    // stable name; the unit passes and the transcript says what happened.
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, end) = with_fault_in(dir.path(), "disconnecting-console");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(end, "pass -: ");
    let log = transcripts(&dir.path().join("rigor.db"));
    assert!(
        log.contains("vanished") && log.contains("reopened after"),
        "{log}"
    );

    // One that never comes back is the rig's fault: retried once, then an infrastructure error.
    let (code, stdout, end) = with_fault("unplugged-console");
    assert_eq!(code, Some(4), "{stdout}");
    assert!(
        end.starts_with("error infrastructure: ") && end.ends_with("is gone"),
        "{end}"
    );
    assert!(
        stdout.contains("(attempt 2) ... error (infrastructure)"),
        "{stdout}"
    );
}

#[test]
fn burn_in_runs_on_a_unit_that_arrives_flashed_and_recovers_from_brown_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    let run = |installed: Option<&str>| {
        let mut c = rigor();
        c.args([
            "run",
            "--rig",
            "virtual-bench",
            "--scenario",
            "burn-in",
            "--slot",
            "slot2",
            "--unit",
            "FC3-000555",
        ])
        .args(["--profile", "fridge-ctl-gen3"])
        .arg("--store")
        .arg(&store)
        .env("XDG_RUNTIME_DIR", dir.path());
        if let Some(v) = installed {
            c.args(["--installed", &format!("slot2={v}")]);
        }
        c.output().unwrap()
    };
    // A blank unit (no firmware yet) does not boot: the first banner never comes.
    let out = run(None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Flashed at an earlier station, it survives brown-out and power cycling.
    let out = run(Some("3.0.2"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("[slot2] brown-out ... ok") && stdout.contains("[slot2] recover ... ok"),
        "{stdout}"
    );
    assert_eq!(
        rows(&store, "SELECT outcome FROM run_ends ORDER BY run_id"),
        ["fail", "pass"]
    );
}

#[test]
fn telemetry_survives_degradation_and_reconnects_after_a_partition() {
    // The unit dials its cloud through the slot's impairment proxy over loopback TCP; the
    // scenario degrades the link, cuts it, and sees the firmware notice and reconnect.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    let out = rigor()
        .args([
            "run",
            "--rig",
            "virtual-bench",
            "--scenario",
            "network-resilience",
            "--slot",
            "slot2",
            "--unit",
            "FC3-000555",
            "--profile",
            "fridge-ctl-gen3",
            "--installed",
            "slot2=3.0.2",
        ])
        .arg("--store")
        .arg(&store)
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    exited(&out, 0);
    let state = rows(
        &store,
        "SELECT text_value FROM measurements WHERE name = 'link_state'",
    );
    assert_eq!(state, ["connected"]);
    // The firmware's own log, in order: up, degraded under latency and loss, lost in the
    // partition, up again once it is lifted.
    let transcript = transcripts(&store);
    let log: Vec<&str> = transcript
        .lines()
        .filter_map(|l| l.split_once("< telemetry: ").map(|(_, state)| state))
        .collect();
    let first = |state: &str| log.iter().position(|s| *s == state);
    let (up, degraded, lost) = (first("connected"), first("degraded"), first("lost"));
    let up_again = lost.and_then(|l| log[l..].iter().position(|s| *s == "connected"));
    assert!(
        up < degraded && degraded < lost && up.is_some() && up_again.is_some(),
        "{log:?}\n{transcript}"
    );
}

#[test]
fn a_unit_given_no_serial_is_asked_for_it_and_one_that_cannot_answer_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    let fw = dir.path().join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen3", "3.0.2").unwrap();
    let run = |installed: &[&str]| {
        rigor()
            .args(["run", "--rig", "virtual-bench", "--scenario", "smoke"])
            .args(["--slot", "slot3", "--profile", "fridge-ctl-gen3"])
            .args(installed)
            .arg("--param")
            .arg(format!("build_dir={}", fw.display()))
            .arg("--store")
            .arg(&store)
            .env("XDG_RUNTIME_DIR", dir.path())
            .output()
            .unwrap()
    };
    // A unit from an earlier station boots and tells its serial; the run is recorded under it.
    let out = run(&["--installed", "slot3=3.0.2"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let serial = rigor_bench::serial_number("gen3", "slot3", 7);
    assert_eq!(rows(&store, "SELECT unit_serial FROM runs"), [serial]);

    // A blank unit cannot answer: an infrastructure exit that says how to give the serial, and
    // no run recorded for a unit nobody knows.
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("did not tell its serial number within 20s")
            && stderr.contains("give it with `--unit slot3=SERIAL`"),
        "{stderr}"
    );
    assert_eq!(
        rows(&store, "SELECT CAST(count(*) AS TEXT) FROM runs"),
        ["1"]
    );
}

#[test]
fn a_scenario_changes_the_console_baud_rate_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("baud.yaml"),
        "scenario: baud\nversion: 1\napplies-to: { family: fridge-ctl }\nsteps:\n  - power: on\n  - console.expect: { pattern: \"${boot_banner}\", within: 3s }\n  - console.baud: 57600\n  - console.send: version\n  - console.expect: 'fw \\d'\nteardown:\n  - power: off\n",
    )
    .unwrap();
    let store = dir.path().join("rigor.db");
    let mut cmd = rigor();
    cmd.args([
        "run",
        "--rig",
        "virtual-bench",
        "--scenario",
        "baud",
        "--slot",
        "slot1",
    ])
    .args([
        "--unit",
        "FC2-000888",
        "--profile",
        "fridge-ctl-gen2",
        "--installed",
        "slot1=2.1.0",
    ])
    .arg("--store")
    .arg(&store)
    .env("XDG_RUNTIME_DIR", dir.path());
    for path in ["device-profiles", "rigs", "fixtures"] {
        cmd.arg("--path").arg(path);
    }
    let out = cmd.arg("--path").arg(&scenarios).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = transcripts(&store);
    let profile_rate = log.find("baud rate set to 115200").unwrap();
    let new_rate = log.find("baud rate set to 57600").unwrap();
    assert!(profile_rate < new_rate, "{log}");
}

#[test]
fn a_supply_on_a_virtual_rs485_line_is_reached_through_the_rtu_driver() {
    // The shipped bench, with slot1's supply served over Modbus RTU on a pty instead of TCP.
    let dir = tempfile::tempdir().unwrap();
    let rigs = dir.path().join("rigs");
    std::fs::create_dir_all(&rigs).unwrap();
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/virtual-bench.yaml"),
    )
    .unwrap();
    let rtu = shipped
        .replace("rig: virtual-bench", "rig: virtual-bench-rtu")
        .replace(
            "psu-1: { model: riden-rd6006, modbus: { virtual: { unit: 1 } }",
            "psu-1: { model: riden-rd6006, modbus: { virtual: { unit: 1, transport: rtu } }",
        );
    assert_ne!(
        rtu,
        shipped.replace("rig: virtual-bench", "rig: virtual-bench-rtu")
    );
    std::fs::write(rigs.join("rtu.yaml"), rtu).unwrap();
    let fw = dir.path().join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen2", "2.1.0").unwrap();
    let store = dir.path().join("rigor.db");
    let mut cmd = rigor();
    cmd.args(["run", "--rig", "virtual-bench-rtu", "--scenario", "smoke"])
        .args([
            "--slot",
            "slot1",
            "--unit",
            "FC2-000999",
            "--profile",
            "fridge-ctl-gen2",
        ])
        .arg("--firmware")
        .arg(&fw)
        .arg("--store")
        .arg(&store)
        .env("XDG_RUNTIME_DIR", dir.path());
    for path in [
        "device-profiles",
        "fixtures",
        "examples",
        "rigs/instruments",
    ] {
        cmd.arg("--path").arg(path);
    }
    let out = cmd.arg("--path").arg(&rigs).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The supply's readings came over RTU: the idle current is the unit's, within its limits.
    let idle = rows(
        &store,
        "SELECT outcome FROM measurements WHERE name = 'idle_current'",
    );
    assert_eq!(idle, ["pass"]);
}

/// Issue 8's guarantee: a subscriber sees an event only once it is recorded, so after a SIGKILL
/// mid-run every step the JSON-lines output printed is in the store (several slots at once, so
/// the writer thread commits groups of events of several runs).
#[test]
fn after_a_sigkill_every_step_the_json_lines_printed_is_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen2", "2.1.0").unwrap();
    let store = dir.path().join("rigor.db");
    let mut child = rigor()
        .args(["run", "--rig", "virtual-bench", "--scenario", "smoke"])
        .args(["--profile", "fridge-ctl-gen2", "--format", "json"])
        .args(["--slot", "slot2", "--slot", "slot4"])
        .args(["--unit", "slot2=FC2-000801", "--unit", "slot4=FC2-000802"])
        .arg("--firmware")
        .arg(&fw)
        .arg("--store")
        .arg(&store)
        .env("XDG_RUNTIME_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    let mut line = String::new();
    // Killed in the middle of the runs, while both slots are still stepping.
    while printed.len() < 12 {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "rigor ended after {} steps",
            printed.len()
        );
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "step-finished" {
            printed.push(format!(
                "{} {} {}",
                event["slot"].as_str().unwrap(),
                event["label"].as_str().unwrap(),
                event["attempt"]
            ));
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = rows(
        &store,
        "SELECT r.slot || ' ' || s.step_id || ' ' || s.attempt FROM steps s JOIN runs r ON r.id = s.run_id",
    );
    for step in &printed {
        assert!(
            stored.contains(step),
            "{step} was printed but is not in the store: {stored:?}"
        );
    }
    let slots = rows(&store, "SELECT DISTINCT slot FROM runs ORDER BY slot");
    assert_eq!(slots, ["slot2", "slot4"]);
}
