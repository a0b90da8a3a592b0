//! Several connections on one file: the station's slots each run their own rigor process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{TempStore, measurement, start, step};
use rigor_store::{RunStatus, StepOutcome, Store};

#[test]
fn second_connection_reads_and_writes_while_the_first_is_mid_run() {
    let tmp = TempStore::new();
    let mut first = tmp.open();
    let run = first.begin_run(&start("SN1", "boot", 100)).unwrap();
    first
        .record_step(run.id, &step(0, StepOutcome::Pass))
        .unwrap();

    // Another slot opens the same file and sees the committed, still incomplete run.
    let mut second = tmp.open();
    let seen = second.incomplete_runs().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].run_id, seen[0].status),
        (run.id, RunStatus::Incomplete)
    );
    let other = second.begin_run(&start("SN2", "boot", 110)).unwrap();

    // An analyst holds a read snapshot open; in WAL mode writers carry on regardless.
    let mut analyst = tmp.raw();
    let snapshot = analyst.transaction().unwrap();
    let steps = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM steps", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(steps(&snapshot), 1);

    first
        .record_step(run.id, &step(1, StepOutcome::Pass))
        .unwrap();
    first
        .record_measurement(run.id, &measurement(1, 3.3))
        .unwrap();
    second
        .record_step(other.id, &step(0, StepOutcome::Pass))
        .unwrap();

    assert_eq!(steps(&snapshot), 1, "the reader's snapshot does not move");
    snapshot.finish().unwrap();
    assert_eq!(steps(&analyst), 3);
    assert_eq!(second.run_detail(run.id).unwrap().steps.len(), 2);
    assert_eq!(first.run_detail(other.id).unwrap().steps.len(), 1);
}

#[test]
fn concurrent_slots_never_share_an_attempt_number() {
    const SLOTS: usize = 4;
    const RUNS: usize = 25;
    let tmp = TempStore::new();
    drop(tmp.open());
    let mut attempts: Vec<u32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SLOTS)
            .map(|slot| {
                let path = &tmp.path;
                scope.spawn(move || {
                    let mut store = Store::open(path).unwrap();
                    (0..RUNS)
                        .map(|i| {
                            let mut run = start("SN1", "boot", (slot * RUNS + i) as i64);
                            run.slot = slot.to_string();
                            store.begin_run(&run).unwrap().attempt
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    attempts.sort_unstable();
    let expected: Vec<u32> = (1..=(SLOTS * RUNS) as u32).collect();
    assert_eq!(attempts, expected);
}

#[test]
fn slots_opening_a_new_file_at_once_migrate_it_once() {
    let tmp = TempStore::new();
    let versions: Vec<u32> = std::thread::scope(|scope| {
        let openers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| Store::open(&tmp.path).unwrap().schema_version().unwrap()))
            .collect();
        openers.into_iter().map(|o| o.join().unwrap()).collect()
    });
    assert_eq!(versions, vec![rigor_store::SCHEMA_VERSION; 4]);
    let mut store = tmp.open();
    assert_eq!(
        store.begin_run(&start("SN1", "boot", 1)).unwrap().attempt,
        1
    );
}
