//! A writer killed mid-run keeps every record it had committed.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use common::{TempStore, measurement, start, step};
use rigor_store::{RunStatus, StepOutcome, Store};

/// Set in the child process: the store file it writes before aborting.
const CHILD_DB: &str = "RIGOR_STORE_CRASH_TEST_DB";

/// Runs itself again as a child that records three steps and aborts mid-run (no destructors, no
/// checkpoint, no connection close), then reads the file back.
#[test]
fn aborted_writer_keeps_every_committed_step() {
    if let Some(path) = std::env::var_os(CHILD_DB) {
        let mut store = Store::open(&path).unwrap();
        let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
        for index in 0..3 {
            store
                .record_step(run.id, &step(index, StepOutcome::Pass))
                .unwrap();
            store
                .record_measurement(run.id, &measurement(index, 3.3))
                .unwrap();
        }
        std::process::abort();
    }

    let tmp = TempStore::new();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "aborted_writer_keeps_every_committed_step",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &tmp.path)
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(6),
        "the child should die of SIGABRT: {status:?}"
    );

    let store = tmp.open();
    let incomplete = store.incomplete_runs().unwrap();
    assert_eq!(incomplete.len(), 1);
    assert_eq!(incomplete[0].status, RunStatus::Incomplete);
    let detail = store.run_detail(incomplete[0].run_id).unwrap();
    assert_eq!(detail.steps.len(), 3);
    assert_eq!(detail.measurements.len(), 3);
    assert!(detail.end.is_none());
}
