//! Builders for the records the tests write, and raw access to the file underneath.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rigor_store::{
    FailureClass, FirmwareImage, FixtureUse, Limits, MeasurementOutcome, MeasurementRecord, RunEnd,
    RunOutcome, RunStart, ScenarioRef, StepOutcome, StepRecord, Store, Timestamp, UnitIdentity,
};
use rusqlite::types::Value;

pub const SCENARIO_SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";
pub const LIMITS_SHA: &str = "2222222222222222222222222222222222222222222222222222222222222222";
pub const FIRMWARE_SHA: &str = "3333333333333333333333333333333333333333333333333333333333333333";

/// A temporary directory with a store file in it.
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rigor.db");
        TempStore { dir, path }
    }

    pub fn open(&self) -> Store {
        Store::open(&self.path).unwrap()
    }

    /// A raw connection, as an analyst (or a careless script) would open it.
    pub fn raw(&self) -> rusqlite::Connection {
        raw(&self.path)
    }
}

pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn
}

pub fn start(serial: &str, scenario: &str, at: i64) -> RunStart {
    RunStart {
        unit: UnitIdentity {
            serial: serial.to_owned(),
            family: "sensor-node".to_owned(),
            generation: "gen3".to_owned(),
        },
        scenario: ScenarioRef {
            name: scenario.to_owned(),
            version: "1.2.0".to_owned(),
            sha256: SCENARIO_SHA.to_owned(),
        },
        station: "station-a".to_owned(),
        rig: "rig-1".to_owned(),
        slot: "2".to_owned(),
        fixture: Some(FixtureUse {
            id: "fx-07".to_owned(),
            insertions: Some(1234),
        }),
        operator: "op-42".to_owned(),
        firmware: Some(FirmwareImage {
            sha256: FIRMWARE_SHA.to_owned(),
            version: Some("2.4.1".to_owned()),
        }),
        limits_sha256: LIMITS_SHA.to_owned(),
        session: None,
        started_at: Timestamp(at),
    }
}

pub fn step(index: u32, outcome: StepOutcome) -> StepRecord {
    StepRecord {
        index,
        step_id: format!("step-{index}"),
        kind: "measure".to_owned(),
        attempt: 1,
        started_at: Timestamp(1_000 + i64::from(index) * 10),
        ended_at: Timestamp(1_005 + i64::from(index) * 10),
        outcome,
        message: None,
    }
}

pub fn measurement(step_index: u32, value: f64) -> MeasurementRecord {
    let outcome = if (3.2..=3.4).contains(&value) {
        MeasurementOutcome::Pass
    } else {
        MeasurementOutcome::Fail
    };
    MeasurementRecord {
        step_index,
        name: "vbat".to_owned(),
        value: Some(value),
        text_value: None,
        unit: Some("V".to_owned()),
        limits: Limits {
            comparator: "3.2 <= x <= 3.4".to_owned(),
            low: Some(3.2),
            low_inclusive: true,
            high: Some(3.4),
            high_inclusive: true,
            marginal_low: Some(3.22),
            marginal_high: Some(3.38),
        },
        marginal: false,
        outcome,
        measured_at: Timestamp(1_002 + i64::from(step_index) * 10),
    }
}

pub fn end(outcome: RunOutcome, at: i64) -> RunEnd {
    let failure_class = match outcome {
        RunOutcome::Pass | RunOutcome::Aborted => None,
        RunOutcome::Fail => Some(FailureClass::Device),
        RunOutcome::Error => Some(FailureClass::Infrastructure),
    };
    RunEnd {
        ended_at: Timestamp(at),
        outcome,
        failure_class,
        message: None,
    }
}

/// Every column of every row of `table` matching `filter`, in rowid or key order, as SQLite
/// holds them: the tests compare these exactly.
pub fn dump(conn: &rusqlite::Connection, table: &str, filter: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT * FROM {table} WHERE {filter} ORDER BY 1, 2"
        ))
        .unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        (0..columns).map(|i| row.get::<_, Value>(i)).collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The tables every run writes to, with the column naming the run.
pub const RUN_TABLES: &[(&str, &str)] = &[
    ("runs", "id"),
    ("run_ends", "run_id"),
    ("steps", "run_id"),
    ("measurements", "run_id"),
    ("run_artifacts", "run_id"),
];
