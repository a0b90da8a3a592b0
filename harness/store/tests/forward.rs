//! Store-and-forward state: what is still to send, the durable mark, the attempt log, export.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{TempStore, end, measurement, start, step};
use rigor_store::{RunOutcome, StepOutcome, Timestamp};

#[test]
fn ended_runs_wait_until_marked_and_open_runs_are_sent_until_they_end() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let a = store.begin_run(&start("SN1", "smoke", 100)).unwrap().id;
    let b = store.begin_run(&start("SN2", "smoke", 110)).unwrap().id;
    store.end_run(a, &end(RunOutcome::Pass, 200)).unwrap();

    assert_eq!(store.runs_to_forward("c", 100, 10).unwrap(), vec![a, b]);
    let status = store.forward_status("c").unwrap();
    assert_eq!((status.pending, status.open), (1, 1));
    assert_eq!(status.oldest_pending, Some(Timestamp(100)));

    store.mark_forwarded("c", &[a]).unwrap();
    assert_eq!(store.runs_to_forward("c", 100, 10).unwrap(), vec![b]);
    // Another target has its own mark.
    assert_eq!(store.runs_to_forward("d", 100, 10).unwrap(), vec![a, b]);
    // Open runs can be left out.
    assert_eq!(store.runs_to_forward("c", 100, 0).unwrap(), vec![]);

    store.end_run(b, &end(RunOutcome::Fail, 300)).unwrap();
    store.mark_forwarded("c", &[b]).unwrap();
    assert_eq!(store.runs_to_forward("c", 100, 10).unwrap(), vec![]);
    let status = store.forward_status("c").unwrap();
    assert_eq!(
        (status.pending, status.open, status.oldest_pending),
        (0, 0, None)
    );
}

#[test]
fn status_shows_the_last_error_until_a_pass_succeeds() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    assert_eq!(store.forward_targets().unwrap(), Vec::<String>::new());
    store
        .record_forward_attempt("c", 0, Some("connection refused"))
        .unwrap();
    let status = store.forward_status("c").unwrap();
    assert_eq!(status.last_success, None);
    assert_eq!(status.last_error.unwrap().1, "connection refused");
    store.record_forward_attempt("c", 3, None).unwrap();
    let status = store.forward_status("c").unwrap();
    assert!(status.last_success.is_some());
    assert_eq!(status.last_error, None);
    assert_eq!(store.forward_targets().unwrap(), vec!["c".to_owned()]);
}

#[test]
fn export_carries_every_row_of_the_runs_under_their_uuids() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let a = store.begin_run(&start("SN1", "smoke", 100)).unwrap().id;
    store
        .record_step_with_measurements(a, &step(0, StepOutcome::Pass), &[measurement(0, 1.5)])
        .unwrap();
    store
        .store_artifact(a, Some(0), "console.log", "text/plain", b"boot\n")
        .unwrap();
    let b = store.begin_run(&start("SN2", "smoke", 110)).unwrap().id;
    store.end_run(a, &end(RunOutcome::Pass, 200)).unwrap();

    let export = store.export_runs(&[a]).unwrap();
    let uuid = store.run_uuid(a).unwrap();
    assert_eq!(export.runs.len(), 1);
    assert_eq!(export.runs[0].uuid, uuid);
    assert_eq!(export.runs[0].end.as_ref().unwrap().outcome, "pass");
    assert_eq!(export.steps.len(), 1);
    assert_eq!(export.measurements[0].value, Some(1.5));
    assert_eq!(export.artifacts[0].run, uuid);
    assert_eq!(export.rows(), 5);

    let both = store.export_runs(&[a, b]).unwrap();
    assert_eq!(both.runs.len(), 2);
    assert_eq!(both.runs[1].end, None);
    assert_ne!(both.runs[1].uuid, uuid);
}
