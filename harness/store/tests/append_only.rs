//! The database itself refuses to change or remove what was recorded, whoever connects.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{TempStore, end, measurement, start, step};
use rigor_store::spill::{SpillFile, SpillRecord};
use rigor_store::{RunOutcome, StepOutcome};

const TABLES: &[&str] = &[
    "units",
    "runs",
    "run_ends",
    "steps",
    "measurements",
    "artifact_blobs",
    "run_artifacts",
    "station_log",
    "station_identity",
    "run_uuids",
    "forwarded_runs",
    "forward_attempts",
    "run_sessions",
    "replayed_spills",
];

/// A store with one row in every table.
fn populated() -> TempStore {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let mut first = start("SN1", "boot", 100);
    first.session = Some(rigor_store::SessionUse {
        id: "session-1".into(),
        role: "gateway[0]".into(),
    });
    let run = store.begin_run(&first).unwrap();
    store
        .record_step(run.id, &step(0, StepOutcome::Pass))
        .unwrap();
    store
        .record_measurement(run.id, &measurement(0, 3.3))
        .unwrap();
    store
        .store_artifact(run.id, Some(0), "console.log", "text/plain", b"ok\n")
        .unwrap();
    store.end_run(run.id, &end(RunOutcome::Pass, 200)).unwrap();
    // A spill replayed: its end is refused (the run has ended), its id is on record.
    let mut spill = SpillFile::open(&tmp.path, store.station_id().unwrap()).unwrap();
    spill
        .append(&[SpillRecord::End {
            run: run.id,
            end: end(RunOutcome::Pass, 250),
        }])
        .unwrap();
    store.replay_spill(spill.path()).unwrap().unwrap();
    store
        .record_station_action(&rigor_store::StationAction {
            at: rigor_store::Timestamp(300),
            station: "eol-1".into(),
            rig: "rig".into(),
            slot: Some("slot1".into()),
            kind: rigor_store::StationActionKind::Repaired,
            unit: Some("SN1".into()),
            fixture: None,
            person: "T-1".into(),
            role: rigor_store::StationRole::Technician,
            note: None,
        })
        .unwrap();
    store.mark_forwarded("central", &[run.id]).unwrap();
    store.record_forward_attempt("central", 1, None).unwrap();
    for table in TABLES {
        let rows: i64 = tmp
            .raw()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "{table}");
    }
    tmp
}

fn refused(conn: &rusqlite::Connection, sql: &str) -> String {
    match conn.execute_batch(sql) {
        Ok(()) => panic!("`{sql}` was allowed"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn update_is_refused_on_every_table() {
    let tmp = populated();
    let raw = tmp.raw();
    for table in TABLES {
        let column = match *table {
            "units" => "family",
            "runs" => "operator",
            "run_ends" | "steps" => "message",
            "measurements" => "unit",
            "artifact_blobs" => "size",
            "station_log" => "note",
            "station_identity" => "created_at_us",
            "run_uuids" => "uuid",
            "forwarded_runs" => "forwarded_at_us",
            "forward_attempts" => "error",
            "run_sessions" => "role",
            "replayed_spills" => "records",
            _ => "name",
        };
        let err = refused(&raw, &format!("UPDATE {table} SET {column} = {column}"));
        assert_eq!(
            err,
            format!("rigor store is append-only: {table} cannot be updated"),
            "{table}"
        );
    }
}

#[test]
fn delete_is_refused_on_every_table() {
    let tmp = populated();
    let raw = tmp.raw();
    // Foreign keys are off on this raw connection, so only the triggers stand in the way.
    for table in TABLES {
        let err = refused(&raw, &format!("DELETE FROM {table}"));
        assert_eq!(
            err,
            format!("rigor store is append-only: {table} cannot be deleted"),
            "{table}"
        );
    }
    let err = refused(&raw, "DELETE FROM measurements WHERE name = 'vbat'");
    assert!(err.starts_with("rigor store is append-only"), "{err}");
}

#[test]
fn insert_or_replace_cannot_overwrite_a_row() {
    let tmp = populated();
    let raw = tmp.raw();
    let replacing = [
        "INSERT OR REPLACE INTO units SELECT serial, 'other', 'gen9', 0 FROM units",
        "INSERT OR REPLACE INTO runs SELECT * FROM runs",
        "INSERT OR REPLACE INTO run_ends (run_id, ended_at_us, outcome) SELECT id, 0, 'aborted' \
         FROM runs",
        "REPLACE INTO steps SELECT * FROM steps",
        "REPLACE INTO measurements SELECT * FROM measurements",
        "REPLACE INTO artifact_blobs SELECT * FROM artifact_blobs",
        "REPLACE INTO run_artifacts SELECT * FROM run_artifacts",
        "REPLACE INTO station_log SELECT * FROM station_log",
    ];
    for sql in replacing {
        let err = refused(&raw, sql);
        assert!(
            err.starts_with("rigor store is append-only: "),
            "{sql}: {err}"
        );
    }
    let outcome: String = raw
        .query_row("SELECT outcome FROM run_ends", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outcome, "pass");
}

#[test]
fn a_second_end_row_is_refused_by_the_database() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let raw = tmp.raw();
    let insert = format!(
        "INSERT INTO run_ends (run_id, ended_at_us, outcome, failure_class) \
         VALUES ({}, 5, 'fail', 'device')",
        run.id
    );
    raw.execute_batch(&insert).unwrap();
    assert_eq!(
        refused(&raw, &insert),
        "rigor store is append-only: run has already ended"
    );
    let err = refused(
        &raw,
        &format!(
            "INSERT INTO steps (run_id, step_index, step_id, kind, attempt, started_at_us, \
             ended_at_us, outcome) VALUES ({}, 9, 's', 'k', 1, 0, 0, 'pass')",
            run.id
        ),
    );
    assert_eq!(err, "rigor store is append-only: run has already ended");
}

#[test]
fn check_constraints_refuse_unknown_enumeration_values() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let raw = tmp.raw();
    for (outcome, class) in [("passed", "NULL"), ("pass", "'device'"), ("fail", "NULL")] {
        let err = refused(
            &raw,
            &format!(
                "INSERT INTO run_ends (run_id, ended_at_us, outcome, failure_class) \
                 VALUES ({}, 5, '{outcome}', {class})",
                run.id
            ),
        );
        assert!(err.contains("CHECK constraint failed"), "{outcome}: {err}");
    }
    let err = refused(
        &raw,
        &format!(
            "INSERT INTO steps (run_id, step_index, step_id, kind, attempt, started_at_us, \
             ended_at_us, outcome) VALUES ({}, 0, 's', 'k', 1, 0, 0, 'maybe')",
            run.id
        ),
    );
    assert!(err.contains("CHECK constraint failed"), "{err}");
}

/// Guards the next migration: a table added without its triggers fails here.
#[test]
fn every_table_has_its_append_only_triggers() {
    let tmp = populated();
    let raw = tmp.raw();
    let mut stmt = raw
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected: Vec<_> = TABLES.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(tables, expected);
    for table in &tables {
        for suffix in ["no_update", "no_delete"] {
            let found: bool = raw
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'trigger' \
                     AND name = ?1 AND tbl_name = ?2)",
                    [format!("{table}_{suffix}"), table.clone()],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(found, "{table} has no {suffix} trigger");
        }
    }
}

/// Regression (issue 9.2): opening another application's SQLite file switched it to WAL and
/// changed its bytes before refusing it. Now it is refused untouched.
#[test]
fn another_applications_database_is_refused_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = delete; PRAGMA application_id = 1234; \
             CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = rigor_store::Store::open(&path).unwrap_err();
    assert!(
        matches!(err, rigor_store::StoreError::NotARigorStore { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("other.db-wal").exists());
}
