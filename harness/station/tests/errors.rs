//! The station's errors keep their causes: what a technician at the line reads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

/// An error and every source under it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    text
}

#[test]
fn a_store_that_cannot_be_opened_says_sqlites_reason_and_is_a_store_problem() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the store file should be.
    let err = match rigor_station::record_into(dir.path(), Vec::new()) {
        Err(e) => e,
        Ok(_) => panic!("a folder opened as a store"),
    };
    assert_eq!(err.kind(), rigor_station::ErrorKind::Store);
    let text = chain(&err);
    assert!(
        text.starts_with(&format!(
            "the store cannot keep this station's records / cannot open store {}",
            dir.path().display()
        )),
        "{text}"
    );
    assert!(text.contains("unable to open database file"), "{text}");
}

#[test]
fn an_unknown_rig_names_the_rigs_there_are() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let catalog = rigor_station::load(
        &["device-profiles", "rigs", "fixtures", "examples"].map(|d| root.join(d)),
    )
    .unwrap();
    let err = rigor_station::plan_slots(
        &catalog,
        "no-such-rig",
        "smoke",
        &[rigor_station::SlotSpec::new("slot1")],
        &Default::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), rigor_station::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "no rig `no-such-rig`; rigs: qemu, rack-a, virtual-bench"
    );
}

/// Regression (issue 9.6, 9.9): an empty serial, or one with a tab, was accepted and failed only
/// after the bench started, or went raw into JUnit attributes. Now it is a usage error up front.
#[test]
fn a_serial_with_control_characters_or_nothing_in_it_is_refused_before_anything_starts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let catalog = rigor_station::load(
        &["device-profiles", "rigs", "fixtures", "examples"].map(|d| root.join(d)),
    )
    .unwrap();
    for (serial, says) in [
        (
            "FC1\t0001",
            "\"FC1\\t0001\" is not a serial number: \\t at character 4",
        ),
        ("", "a serial number cannot be empty"),
    ] {
        let err = rigor_station::plan_slots(
            &catalog,
            "virtual-bench",
            "smoke",
            &[rigor_station::SlotSpec::new("slot1").unit(serial)],
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), rigor_station::ErrorKind::Usage);
        assert!(err.to_string().contains(says), "{err}");
    }
}
