//! Cost of recording into a file store with a durable commit per record (WAL,
//! `synchronous=NORMAL`). The budget is under 20 µs a step.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // a bench fails loudly

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rigor_store::{
    Limits, MeasurementOutcome, MeasurementRecord, RunStart, ScenarioRef, StepOutcome, StepRecord,
    Store, Timestamp, UnitIdentity,
};

fn run_start(serial: &str) -> RunStart {
    RunStart {
        unit: UnitIdentity {
            serial: serial.to_owned(),
            family: "sensor-node".to_owned(),
            generation: "gen3".to_owned(),
        },
        scenario: ScenarioRef {
            name: "boot".to_owned(),
            version: "1".to_owned(),
            sha256: "1".repeat(64),
        },
        station: "station-a".to_owned(),
        rig: "rig-1".to_owned(),
        slot: "1".to_owned(),
        fixture: None,
        operator: "bench".to_owned(),
        firmware: None,
        limits_sha256: "2".repeat(64),
        session: None,
        started_at: Timestamp::now(),
    }
}

fn measurement() -> MeasurementRecord {
    MeasurementRecord {
        step_index: 0,
        name: "vbat".to_owned(),
        value: Some(3.3),
        text_value: None,
        unit: Some("V".to_owned()),
        limits: Limits {
            comparator: "3.2 <= x <= 3.4".to_owned(),
            low: Some(3.2),
            low_inclusive: true,
            high: Some(3.4),
            high_inclusive: true,
            marginal_low: None,
            marginal_high: None,
        },
        marginal: false,
        outcome: MeasurementOutcome::Pass,
        measured_at: Timestamp::now(),
    }
}

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("bench.db")).unwrap();
    let run = store.begin_run(&run_start("SN-BENCH")).unwrap();

    let m = measurement();
    c.bench_function("record_measurement", |b| {
        b.iter(|| store.record_measurement(run.id, black_box(&m)).unwrap());
    });

    let mut index = 0u32;
    c.bench_function("record_step", |b| {
        b.iter(|| {
            let step = StepRecord {
                index,
                step_id: "measure-vbat".to_owned(),
                kind: "measure".to_owned(),
                attempt: 1,
                started_at: Timestamp(0),
                ended_at: Timestamp(1),
                outcome: StepOutcome::Pass,
                message: None,
            };
            index += 1;
            store.record_step(run.id, black_box(&step)).unwrap();
        });
    });

    c.bench_function("record_step_with_3_measurements", |b| {
        b.iter(|| {
            let step = StepRecord {
                index,
                step_id: "measure-rails".to_owned(),
                kind: "measure".to_owned(),
                attempt: 1,
                started_at: Timestamp(0),
                ended_at: Timestamp(1),
                outcome: StepOutcome::Pass,
                message: None,
            };
            index += 1;
            let taken = [m.clone(), m.clone(), m.clone()];
            store
                .record_step_with_measurements(run.id, black_box(&step), black_box(&taken))
                .unwrap();
        });
    });

    let start = run_start("SN-BENCH");
    c.bench_function("begin_run", |b| {
        b.iter(|| store.begin_run(black_box(&start)).unwrap());
    });
}

/// The same file settings with one bare single-row insert per transaction: the cost of a commit
/// on this machine, which no record can undercut.
fn commit_floor(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = rusqlite::Connection::open(dir.path().join("floor.db")).unwrap();
    conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get::<_, String>(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "normal").unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, x REAL)")
        .unwrap();
    c.bench_function("sqlite_commit_floor", |b| {
        b.iter(|| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .unwrap();
            tx.prepare_cached("INSERT INTO t (x) VALUES (1.0)")
                .unwrap()
                .execute([])
                .unwrap();
            tx.commit().unwrap();
        });
    });
}

criterion_group!(benches, commit_floor, record);
criterion_main!(benches);
