//! `rigor check` end to end: the binary against the shipped tree and against a broken one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::Command;

fn rigor() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rigor"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    c
}

#[test]
fn the_shipped_tree_checks_clean_and_prints_the_matrix() {
    let out = rigor().arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    let row = |scenario: &str, generation: &str| {
        stdout
            .lines()
            .filter(|l| {
                l.starts_with(&format!("{scenario} v"))
                    && l.split_whitespace().nth(2) == Some(generation)
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Every generation runs the smoke scenario on the virtual bench.
    for generation in ["gen1", "gen2", "gen3"] {
        assert!(
            row("smoke", generation)
                .iter()
                .any(|l| l.contains("virtual-bench") && l.contains("runs:")),
            "smoke on {generation}:\n{stdout}"
        );
    }
    // Network resilience needs the uplink, which gen1 lacks: skipped, with the reason.
    let gen1 = row("network-resilience", "gen1");
    assert_eq!(gen1.len(), 1, "{stdout}");
    assert!(
        gen1[0].contains("skipped: requires capability `uplink`, which fridge-ctl-gen1 lacks"),
        "{}",
        gen1[0]
    );
    assert!(
        row("network-resilience", "gen2")
            .iter()
            .all(|l| l.contains("runs:")),
        "{stdout}"
    );
    assert!(stdout.contains("0 invalid; 0 problems"), "{stdout}");
}

#[test]
fn a_broken_tree_exits_3_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "scenario: s\nversion: one\napplies-to: { family: f }\nsteps: []\n",
    )
    .unwrap();
    let out = rigor().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "error: {}:2:10: version: invalid type: string \"one\", expected u32\n",
        dir.path().join("s.yaml").display()
    );
    assert_eq!(stderr, expected);
}

#[test]
fn json_output_carries_diagnostics_and_the_matrix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "scenario: s\nversion: 1\napplies-to: { family: f }\nsteps: [ { wiat: 1s } ]\n",
    )
    .unwrap();
    let out = rigor()
        .args(["check", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(18))
    );
    assert_eq!(d["path"], "steps[0].wiat");
    assert_eq!(d["message"], "unknown key `wiat`");
    assert_eq!(d["help"], "did you mean `wait`?");
    assert!(doc["matrix"].as_array().unwrap().is_empty());
}

#[test]
fn schema_prints_each_kind() {
    for kind in [
        "profile",
        "rig",
        "fixture",
        "instrument-model",
        "scenario",
        "fragment",
    ] {
        let out = rigor().args(["schema", kind]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(schema["required"][0], kind, "{kind}");
    }
    let out = rigor().args(["schema", "scenaro"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A rig's impairment point this host cannot open is said, as a warning with the slot, the
/// channel and the reason, in text and in JSON; the files themselves are still valid.
#[test]
fn an_impairment_point_this_host_cannot_open_is_said() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let rig = std::fs::read_to_string(root.join("rigs/rack-a.yaml"))
        .unwrap()
        .replace(
            "wan0: { tun: { interface: rigor-a2, address: 10.42.2.1/24 } }",
            "wan0: { netem: { interface: rg-nonexistent } }",
        );
    std::fs::write(dir.path().join("rack-a.yaml"), rig).unwrap();
    let tree = [
        "--path".to_owned(),
        "device-profiles".to_owned(),
        "--path".to_owned(),
        "fixtures".to_owned(),
        "--path".to_owned(),
        "rigs/instruments".to_owned(),
        "--path".to_owned(),
        dir.path().join("rack-a.yaml").display().to_string(),
    ];
    let out = rigor().arg("check").args(&tree).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: rig rack-a: a2.wan0 (netem)"))
        .collect();
    assert!(
        warnings[0].ends_with(
            "cannot be opened on this host: there is no interface `rg-nonexistent` on this host"
        ),
        "{stderr}"
    );
    // This machine's kernel has no netem (the Debian kernel guest's has).
    if !Path::new("/sys/module/sch_netem").exists() {
        assert!(
            warnings.iter().any(|w| w.ends_with(
                "this kernel has no netem (module sch_netem), which a `netem:` point needs; a \
                 `tun:` point runs rigor's packet engine instead"
            )),
            "{stderr}"
        );
    }
    let out = rigor()
        .args(["check", "--format", "json"])
        .args(&tree)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = doc["host"].as_array().unwrap();
    assert_eq!(host.len(), warnings.len());
    assert_eq!(host[0]["slot"], "a2");
    assert_eq!(host[0]["kind"], "netem");
}

/// A bench with one gateway cradle and one fridge socket cannot take gateway-sensors' two
/// sensors: the matrix says which role found too few slots, and why.
#[test]
fn a_multi_device_scenario_that_does_not_fit_a_rig_names_the_roles_left_without_slots() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("small-bench.yaml");
    std::fs::write(
        &rig,
        "rig: small-bench\n\
         virtual-bench: { seed: 1 }\n\
         instruments:\n  \
           psu-1: { model: riden-rd6006, modbus: { virtual: { unit: 1 } } }\n  \
           psu-2: { model: riden-rd6006, modbus: { virtual: { unit: 1 } } }\n\
         slots:\n  \
           gw1: { kind: gateway-socket, probe: virtual, serial: { uart0: virtual }, instruments: { psu: psu-1 } }\n  \
           slot1:\n    \
             kind: fridge-socket\n    \
             probe: virtual\n    \
             serial: { uart0: virtual }\n    \
             gpio: { dio0: virtual, dio1: virtual, dio2: virtual, dio3: virtual, dio4: virtual, dio5: virtual, dio6: virtual, dio7: virtual }\n    \
             i2c: { bus0: virtual }\n    \
             instruments: { psu: psu-2 }\n    \
             net: { wan0: virtual }\n",
    )
    .unwrap();
    let out = rigor()
        .args(["check", "--path", "device-profiles", "--path", "fixtures"])
        .args(["--path", "rigs/instruments", "--path"])
        .arg(&rig)
        .args(["--path", "examples/scenarios/gateway-sensors.yaml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    insta::assert_snapshot!(stdout);
}
