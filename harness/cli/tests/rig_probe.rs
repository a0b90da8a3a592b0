//! `rigor rig probe` against a sysfs tree laid out as the kernel lays it out, since this machine
//! has no USB device: which rig channel found its device, and why the others did not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::path::Path;

use common::{rigor, text};

fn device(root: &Path, name: &str, vid: &str, pid: &str, serial: &str, tty: Option<&str>) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (attr, value) in [
        ("idVendor", vid),
        ("idProduct", pid),
        ("serial", serial),
        ("bDeviceClass", "00"),
    ] {
        std::fs::write(dir.join(attr), format!("{value}\n")).unwrap();
    }
    if let Some(t) = tty {
        std::fs::create_dir_all(dir.join(format!("{name}:1.0")).join(t)).unwrap();
    }
}

#[test]
fn each_channel_of_a_rack_is_found_or_told_what_differs() {
    let sysfs = tempfile::tempdir().unwrap();
    device(
        sysfs.path(),
        "1-1",
        "0483",
        "374b",
        "066DFF485550755187121723",
        None,
    );
    // The console adapter of slot a1, but not the one the rig names.
    device(
        sysfs.path(),
        "1-2",
        "0403",
        "6001",
        "FT5XYZ99",
        Some("ttyUSB0"),
    );
    let probe = |format: &str| {
        rigor()
            .args([
                "rig", "probe", "--rig", "rack-a", "--format", format, "--sysfs",
            ])
            .arg(sysfs.path())
            .output()
            .unwrap()
    };
    let out = probe("text");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let report = text(&out);
    assert!(
        report
            .contains("a1         probe          0483:374b:066DFF485550755187121723 found at 1-1"),
        "{report}"
    );
    assert!(
        report.contains(
            "MISSING: a 0403:6001 is attached at 1-2 but its serial is FT5XYZ99, not FT5XYZ12"
        ),
        "{report}"
    );
    // Everything attached is listed, with what claims it.
    assert!(report.contains("attached (2):"), "{report}");
    assert!(
        report.contains("-> a1 probe")
            && report.contains("serialadapter")
            && report.contains("/dev/ttyUSB0"),
        "{report}"
    );

    // The right adapter plugged in instead: every channel found, with its tty.
    std::fs::write(sysfs.path().join("1-2/serial"), "FT5XYZ12\n").unwrap();
    let out = probe("json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uart = json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "serial.uart0" && c["slot"] == "a1")
        .unwrap();
    assert_eq!(uart["verdict"], "found");
    assert_eq!(uart["ttys"][0], "/dev/ttyUSB0");
}
