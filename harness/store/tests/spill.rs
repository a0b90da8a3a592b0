//! Spill files (issue 9.1): records the store could not take, replayed into it exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{TempStore, end, measurement, start, step};
use rigor_store::spill::{SpillFile, SpillRecord, reserve_path, set_aside_reserve, spill_path};
use rigor_store::{RunOutcome, StepOutcome, StoreError};

fn count(tmp: &TempStore, sql: &str) -> i64 {
    tmp.raw().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_spill_is_replayed_once_and_removed() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    store
        .record_step(run.id, &step(0, StepOutcome::Pass))
        .unwrap();
    set_aside_reserve(&tmp.path).unwrap();
    let mut spill = SpillFile::open(&tmp.path, store.station_id().unwrap()).unwrap();
    assert!(
        !reserve_path(&tmp.path).exists(),
        "spilling gives the reserve back"
    );
    spill
        .append(&[SpillRecord::Step {
            run: run.id,
            step: step(1, StepOutcome::Fail),
            measurements: vec![measurement(1, 9.9)],
        }])
        .unwrap();
    spill
        .append(&[SpillRecord::End {
            run: run.id,
            end: end(RunOutcome::Fail, 200),
        }])
        .unwrap();
    let path = spill_path(&tmp.path);
    assert_eq!(spill.path(), path);
    let kept = std::fs::read(&path).unwrap();

    let replayed = store.replay_spill(&path).unwrap().unwrap();
    assert_eq!(
        (replayed.records, replayed.refused, replayed.already),
        (2, 0, false)
    );
    assert!(!path.exists());
    assert_eq!(count(&tmp, "SELECT count(*) FROM steps"), 2);
    assert_eq!(count(&tmp, "SELECT count(*) FROM measurements"), 1);
    assert_eq!(count(&tmp, "SELECT count(*) FROM run_ends"), 1);

    // Found again (rigor died before removing it): only removed.
    std::fs::write(&path, &kept).unwrap();
    let again = store.replay_spill(&path).unwrap().unwrap();
    assert!(again.already);
    assert!(!path.exists());
    assert_eq!(count(&tmp, "SELECT count(*) FROM steps"), 2);
    assert!(store.replay_spill(&path).unwrap().is_none());
}

#[test]
fn a_line_torn_by_a_crash_is_dropped_and_the_rest_replayed() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let mut spill = SpillFile::open(&tmp.path, store.station_id().unwrap()).unwrap();
    spill
        .append(&[SpillRecord::Step {
            run: run.id,
            step: step(0, StepOutcome::Pass),
            measurements: Vec::new(),
        }])
        .unwrap();
    let path = spill_path(&tmp.path);
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(br#"{"record":"end","run":1,"en"#);
    std::fs::write(&path, text).unwrap();
    let replayed = store.replay_spill(&path).unwrap().unwrap();
    assert_eq!(replayed.records, 1);
    assert_eq!(count(&tmp, "SELECT count(*) FROM run_ends"), 0);
}

#[test]
fn a_spill_of_another_store_is_refused_and_kept() {
    let tmp = TempStore::new();
    let other = TempStore::new();
    let mut store = tmp.open();
    let theirs = other.open().station_id().unwrap();
    SpillFile::open(&tmp.path, theirs).unwrap();
    let path = spill_path(&tmp.path);
    let err = store.replay_spill(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::SpillOfAnotherStore { .. }),
        "{err}"
    );
    assert!(path.exists());
}

/// Issue 9 (replay is visible): a replay says what it put into the store and what it refused,
/// and keeps each refused record, with the store's reason, beside the store.
#[test]
fn a_replay_reports_what_went_in_and_keeps_what_the_store_refused() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let open = store.begin_run(&start("SN1", "boot", 100)).unwrap().id;
    let sealed = store.begin_run(&start("SN2", "boot", 100)).unwrap().id;
    store.end_run(sealed, &end(RunOutcome::Pass, 150)).unwrap();
    let mut spill = SpillFile::open(&tmp.path, store.station_id().unwrap()).unwrap();
    spill
        .append(&[
            SpillRecord::Step {
                run: open,
                step: step(0, StepOutcome::Pass),
                measurements: vec![measurement(0, 1.5), measurement(0, 2.5)],
            },
            // Refused when it happened for a reason that has passed: the replay takes it now.
            SpillRecord::Refused {
                reason: "database error: disk I/O error".to_owned(),
                refused: Box::new(SpillRecord::Step {
                    run: open,
                    step: step(1, StepOutcome::Pass),
                    measurements: Vec::new(),
                }),
            },
            // A run another process had already ended: refused again, on its merits.
            SpillRecord::Refused {
                reason: "run 2 has already ended".to_owned(),
                refused: Box::new(SpillRecord::Step {
                    run: sealed,
                    step: step(0, StepOutcome::Fail),
                    measurements: Vec::new(),
                }),
            },
            SpillRecord::End {
                run: open,
                end: end(RunOutcome::Pass, 200),
            },
        ])
        .unwrap();
    let path = spill_path(&tmp.path);
    let replayed = store.replay_spill(&path).unwrap().unwrap();
    let kept = rigor_store::spill::refused_path(&path);
    assert_eq!(kept.file_name().unwrap(), "rigor.db-refused");
    assert_eq!(
        (
            replayed.runs,
            replayed.steps,
            replayed.measurements,
            replayed.ends
        ),
        (1, 2, 2, 1)
    );
    assert_eq!((replayed.records, replayed.refused), (3, 1));
    assert_eq!(replayed.refused_kept.as_deref(), Some(kept.as_path()));
    let report = replayed
        .report(&path)
        .replace(&*tmp.path.to_string_lossy(), "STORE");
    assert_eq!(
        report,
        "replayed the spill STORE-spill into the store: 1 run (2 steps, 2 measurements, \
         0 artifacts, 1 run end), 1 refused (kept in STORE-refused)\n  \
         refused line 4: step 0 (`step-0`) of run 2: run 2 has already ended\n"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&kept)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["line"], 4);
    assert_eq!(lines[0]["reason"], "run 2 has already ended");
    assert_eq!(lines[0]["record"]["record"], "refused");
    assert_eq!(lines[0]["record"]["refused"]["record"], "step");
    assert_eq!(count(&tmp, "SELECT count(*) FROM steps"), 2);
    assert!(!path.exists());
}
