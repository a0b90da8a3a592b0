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

fn run_info(unit: &str, slot: &str) -> std::sync::Arc<rigor_runner::event::RunInfo> {
    std::sync::Arc::new(rigor_runner::event::RunInfo {
        unit: unit.into(),
        attempt: 0,
        family: "fridge-ctl".into(),
        generation: "gen2".into(),
        profile: "fridge-ctl-gen2".into(),
        scenario: "smoke".into(),
        scenario_version: 3,
        scenario_hash: "ab".repeat(32),
        limit_set_hash: "cd".repeat(32),
        station: None,
        rig: "virtual-bench".into(),
        slot: slot.into(),
        fixture: "fx-fridge-gen2".into(),
        operator: None,
        firmware_version: None,
        firmware_sha256: None,
        started_at: std::time::SystemTime::now(),
        session: None,
        role: None,
    })
}

fn step_finished(slot: &str) -> rigor_runner::recorder::Entry {
    rigor_runner::recorder::Entry::Event(rigor_runner::event::Event::StepFinished {
        slot: slot.into(),
        index: 0,
        label: "boot".into(),
        kind: "console.expect",
        attempt: 1,
        outcome: rigor_runner::event::StepOutcome::Pass,
        duration: std::time::Duration::from_millis(5),
    })
}

/// Issue 9 (a refused record is kept): in a group that commits, a record the store refuses on
/// its own (here: its run was ended by another process) is kept in the spill with the store's
/// reason, the error says where, the group's other records are in the store, and the replay
/// reports it refused again.
#[test]
fn a_record_refused_in_a_group_that_commits_is_kept_in_the_spill_with_its_reason() {
    use rigor_runner::recorder::{Entry, RecordError, Recorder};
    use rigor_store::spill::spill_path;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rigor.db");
    let store = rigor_store::Store::open(&path).unwrap();
    let mut recorder = rigor_station::record::StoreRecorder::spilling_beside(store, &path);
    let begun = recorder
        .write(&[
            Entry::Begin(run_info("FC2-000001", "slot1")),
            Entry::Begin(run_info("FC2-000002", "slot2")),
        ])
        .unwrap();
    assert!(begun.iter().all(|r| matches!(r, Ok(Some(1)))), "{begun:?}");
    let mut other = rigor_store::Store::open(&path).unwrap();
    let end = rigor_store::RunEnd {
        ended_at: rigor_store::Timestamp::now(),
        outcome: rigor_store::RunOutcome::Aborted,
        failure_class: None,
        message: None,
    };
    other.end_run(rigor_store::RunId(2), &end).unwrap();

    let results = recorder
        .write(&[step_finished("slot1"), step_finished("slot2")])
        .unwrap();
    assert!(matches!(results[0], Ok(None)), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    let spill = spill_path(&path);
    assert!(
        matches!(err, RecordError::Spilled { path, .. } if *path == spill),
        "{err:?}"
    );
    assert_eq!(
        chain(err),
        format!(
            "the record is incomplete in the store; the rest of it is kept in {}, which the \
             next run on this store replays into it / cannot record step `boot` of slot slot2 \
             / run 2 has already ended",
            spill.display()
        )
    );
    let kept = std::fs::read_to_string(&spill).unwrap();
    let lines: Vec<&str> = kept.lines().collect();
    assert_eq!(lines.len(), 2, "{kept}");
    assert!(
        lines[1].starts_with(
            r#"{"record":"refused","reason":"run 2 has already ended","refused":{"record":"step","run":2,"#
        ),
        "{kept}"
    );

    // slot1's step went in; the replay tries slot2's again, and it is refused again.
    drop(recorder);
    let replayed = other.replay_spill(&spill).unwrap().unwrap();
    assert_eq!((replayed.records, replayed.refused), (0, 1));
    assert_eq!(replayed.refusals[0].reason, "run 2 has already ended");
    assert!(!spill.exists());
    let detail = other.run_detail(rigor_store::RunId(1)).unwrap();
    assert_eq!(detail.steps.len(), 1);
}
