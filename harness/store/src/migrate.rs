//! Bringing a database up to [`SCHEMA_VERSION`]: refuse foreign and newer files, run the missing
//! migrations in one immediate transaction.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;
use crate::schema::{APPLICATION_ID, MIGRATIONS, Migration, SCHEMA_VERSION};

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// Migrates `conn` with the crate's migrations; returns the version it is at.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    migrate_with(conn, MIGRATIONS)
}

/// Migrates `conn` through `migrations` (versions 1, 2, … in order). Several processes may open
/// the same new file at once: the version is read again under the write lock, so each migration
/// runs once.
pub(crate) fn migrate_with(
    conn: &mut Connection,
    migrations: &[Migration],
) -> Result<u32, StoreError> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let current = check_version(conn, latest)?;
    if current == latest {
        return Ok(current);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = check_version(&tx, latest)?;
    for migration in migrations.iter().filter(|m| m.version > current) {
        apply(&tx, migration)
            .and_then(|()| tx.pragma_update(None, "user_version", migration.version))
            .map_err(|source| StoreError::Migration {
                version: migration.version,
                source,
            })?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(latest)
}

/// Runs one migration's SQL; for a table it rebuilds, keeps the table's indexes and triggers
/// (see [`Migration::rebuilds`]).
fn apply(tx: &Connection, migration: &Migration) -> rusqlite::Result<()> {
    if migration.rebuilds.is_empty() {
        return tx.execute_batch(migration.sql);
    }
    let mut kept: Vec<String> = Vec::new();
    for table in migration.rebuilds {
        // In the order they were made; automatic indexes have no SQL and come back by themselves.
        let mut stmt = tx.prepare(
            "SELECT sql FROM sqlite_schema \
             WHERE tbl_name = ?1 AND type IN ('index', 'trigger') AND sql IS NOT NULL \
             ORDER BY rowid",
        )?;
        for sql in stmt.query_map([table], |row| row.get(0))? {
            kept.push(sql?);
        }
    }
    // Without legacy renaming, `ALTER TABLE … RENAME` checks every view and refuses while a view
    // names the table just dropped; legacy renaming leaves views as they are, naming the new table.
    tx.pragma_update(None, "legacy_alter_table", true)?;
    let rebuilt = tx
        .execute_batch(migration.sql)
        .and_then(|()| kept.iter().try_for_each(|sql| tx.execute_batch(sql)));
    let reset = tx.pragma_update(None, "legacy_alter_table", false);
    rebuilt.and(reset)
}

/// Reads the schema version, refusing a file of another application or of a newer rigor. One
/// statement, so one snapshot: another process migrating meanwhile is seen wholly or not at all.
fn check_version(conn: &Connection, latest: u32) -> Result<u32, StoreError> {
    let (app, found, objects): (i32, i64, i64) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id), \
                (SELECT user_version FROM pragma_user_version), \
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    if app != APPLICATION_ID && app != 0 {
        return Err(StoreError::NotARigorStore {
            reason: format!("application id is {app:#x}"),
        });
    }
    if app == 0 && objects > 0 {
        return Err(StoreError::NotARigorStore {
            reason: format!("the file has {objects} schema objects but no rigor application id"),
        });
    }
    match u32::try_from(found) {
        Ok(version) if version <= latest => Ok(version),
        _ => Err(StoreError::SchemaTooNew {
            found,
            supported: latest,
        }),
    }
}

/// Refuses a file of another application or of a newer rigor; reads only.
pub(crate) fn check_identity(conn: &Connection) -> Result<(), StoreError> {
    check_version(conn, SCHEMA_VERSION).map(|_| ())
}

/// The schema version recorded in the file.
pub(crate) fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(found).map_err(|_| StoreError::SchemaTooNew {
        found,
        supported: SCHEMA_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, i + 1);
        }
    }

    #[test]
    fn empty_database_migrates_to_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(version(&conn), i64::from(SCHEMA_VERSION));
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN \
                 ('units', 'runs', 'run_ends', 'steps', 'measurements', 'artifact_blobs', \
                  'run_artifacts')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 7);
        // A second open finds nothing to do.
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn older_database_gets_only_the_missing_migrations_and_keeps_its_rows() {
        const A: Migration = Migration {
            version: 1,
            sql: "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);",
            rebuilds: &[],
        };
        const B: Migration = Migration {
            version: 2,
            sql: "ALTER TABLE t ADD COLUMN y TEXT; INSERT INTO t VALUES (2, 'b');",
            rebuilds: &[],
        };
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate_with(&mut conn, &[A]).unwrap(), 1);
        assert_eq!(migrate_with(&mut conn, &[A, B]).unwrap(), 2);
        let rows: Vec<(i64, Option<String>)> = conn
            .prepare("SELECT x, y FROM t ORDER BY x")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![(1, None), (2, Some("b".to_owned()))]);
    }

    #[test]
    fn failed_migration_rolls_back_the_whole_upgrade() {
        const A: Migration = Migration {
            version: 1,
            sql: "CREATE TABLE t (x INTEGER);",
            rebuilds: &[],
        };
        const BAD: Migration = Migration {
            version: 2,
            sql: "CREATE TABLE u (x INTEGER); INSERT INTO nowhere VALUES (1);",
            rebuilds: &[],
        };
        let mut conn = Connection::open_in_memory().unwrap();
        let err = migrate_with(&mut conn, &[A, BAD]).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 2, .. }),
            "{err:?}"
        );
        assert_eq!(version(&conn), 0);
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .unwrap();
        assert_eq!(objects, 0);
    }

    #[test]
    fn newer_schema_version_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, supported }
                if found == i64::from(SCHEMA_VERSION) + 1 && supported == SCHEMA_VERSION),
            "{err:?}"
        );
    }

    #[test]
    fn other_applications_databases_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE someone_elses (x)")
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::NotARigorStore { .. }), "{err:?}");

        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 42).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert_eq!(err.to_string(), "not a rigor store: application id is 0x2a");
    }

    /// The rows of every table, each table's rows sorted, as text: what a migration must keep.
    fn rows(conn: &Connection) -> Vec<(String, Vec<String>)> {
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables
            .into_iter()
            .map(|table| {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
                let columns = stmt.column_count();
                let mut rows: Vec<String> = stmt
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| row.get::<_, rusqlite::types::Value>(i))
                            .collect::<Result<Vec<_>, _>>()
                            .map(|values| format!("{values:?}"))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                rows.sort();
                (table, rows)
            })
            .collect()
    }

    /// Every schema object but the `steps` table itself: type, name, table and SQL.
    fn objects_but_steps(conn: &Connection) -> Vec<(String, String, String, Option<String>)> {
        conn.prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_schema \
             WHERE NOT (type = 'table' AND name = 'steps') ORDER BY type, name",
        )
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn steps_sql(conn: &Connection) -> String {
        conn.query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'steps'",
            [],
            |row| row.get(0),
        )
        .unwrap()
    }

    /// A store at version 7 with two runs (one ended), steps of every outcome, measurements, an
    /// artifact, and an index and a view an analyst added on `steps`.
    fn populated_v7() -> (crate::Store, crate::RunId, crate::RunId) {
        use crate::input::{Limits, MeasurementRecord, RunEnd, StepRecord};
        use crate::types::{FailureClass, MeasurementOutcome, RunOutcome, StepOutcome, Timestamp};

        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        assert_eq!(migrate_with(&mut conn, &MIGRATIONS[..7]).unwrap(), 7);
        let mut store = crate::Store {
            conn,
            next_seq: Default::default(),
        };
        let ended = store.begin_run(&crate::record::tests::start()).unwrap().id;
        let open = store.begin_run(&crate::record::tests::start()).unwrap().id;
        let outcomes = [
            StepOutcome::Pass,
            StepOutcome::Fail,
            StepOutcome::Error,
            StepOutcome::Skipped,
        ];
        for (i, outcome) in (0u32..).zip(outcomes) {
            let step = StepRecord {
                index: i,
                step_id: format!("step-{i}"),
                kind: "measure".to_owned(),
                attempt: 1 + i % 2,
                started_at: Timestamp(i64::from(i) * 10),
                ended_at: Timestamp(i64::from(i) * 10 + 7),
                outcome,
                message: (outcome != StepOutcome::Pass).then(|| format!("Why {i}")),
            };
            let measurement = MeasurementRecord {
                step_index: i,
                name: format!("m{i}"),
                value: Some(0.5 + f64::from(i)),
                text_value: None,
                unit: Some("V".to_owned()),
                limits: Limits {
                    comparator: "0.04 <= x <= 0.08".to_owned(),
                    low: Some(0.04),
                    low_inclusive: true,
                    high: Some(0.08),
                    high_inclusive: i % 2 == 0,
                    marginal_low: None,
                    marginal_high: None,
                },
                marginal: false,
                outcome: MeasurementOutcome::Fail,
                measured_at: Timestamp(i64::from(i) * 10 + 5),
            };
            for run in [ended, open] {
                store
                    .record_step_with_measurements(run, &step, std::slice::from_ref(&measurement))
                    .unwrap();
            }
        }
        store
            .store_artifact(ended, Some(1), "log", "text/plain", b"boot ok")
            .unwrap();
        let end = RunEnd {
            ended_at: Timestamp(99),
            outcome: RunOutcome::Fail,
            failure_class: Some(FailureClass::Device),
            message: Some("Step 1 failed".to_owned()),
        };
        store.end_run(ended, &end).unwrap();
        store
            .conn
            .execute_batch(
                "CREATE INDEX steps_by_kind ON steps (kind, outcome);
                 CREATE VIEW failed_steps AS SELECT * FROM steps WHERE outcome <> 'pass';",
            )
            .unwrap();
        (store, ended, open)
    }

    fn refusal(conn: &Connection, sql: &str) -> String {
        conn.execute_batch(sql).unwrap_err().to_string()
    }

    #[test]
    fn version_8_rebuilds_steps_keeping_every_row_trigger_index_and_view() {
        let (mut store, ended, open) = populated_v7();
        let rows_before = rows(&store.conn);
        let objects_before = objects_but_steps(&store.conn);
        assert!(steps_sql(&store.conn).contains("outcome IN ('pass', 'fail', 'error', 'skipped')"));
        assert!(objects_before.iter().any(|o| o.1 == "steps_no_replace"));

        assert_eq!(migrate(&mut store.conn).unwrap(), 8);
        assert_eq!(rows(&store.conn), rows_before);
        assert_eq!(objects_but_steps(&store.conn), objects_before);
        assert!(steps_sql(&store.conn).contains("outcome = 'pass' OR outcome = 'fail'"));
        let integrity: String = store
            .conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let dangling: i64 = store
            .conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(dangling, 0);
        let failed: i64 = store
            .conn
            .query_row("SELECT count(*) FROM failed_steps", [], |row| row.get(0))
            .unwrap();
        assert_eq!(failed, 6);
        // The legacy renaming was for the migration only.
        let legacy: bool = store
            .conn
            .pragma_query_value(None, "legacy_alter_table", |row| row.get(0))
            .unwrap();
        assert!(!legacy);

        // The triggers act as before.
        let conn = &store.conn;
        let insert = |run: crate::RunId, index: u32, outcome: &str| {
            format!(
                "INSERT INTO steps (run_id, step_index, step_id, kind, attempt, started_at_us, \
                 ended_at_us, outcome) VALUES ({run}, {index}, 's', 'k', 1, 0, 0, '{outcome}')"
            )
        };
        for (sql, expected) in [
            (
                "UPDATE steps SET message = 'x'".to_owned(),
                "steps cannot be updated",
            ),
            ("DELETE FROM steps".to_owned(), "steps cannot be deleted"),
            (insert(open, 0, "pass"), "step already recorded"),
            (insert(ended, 9, "pass"), "run has already ended"),
            (insert(open, 9, "maybe"), "CHECK constraint failed"),
            (insert(open, 9, "PASS"), "CHECK constraint failed"),
        ] {
            let err = refusal(conn, &sql);
            assert!(err.contains(expected), "{sql}: {err}");
        }
        // … and the check takes every outcome it took before.
        for (index, outcome) in (9..).zip(["pass", "fail", "error", "skipped"]) {
            conn.execute_batch(&insert(open, index, outcome)).unwrap();
        }
    }

    /// The program SQLite runs for `sql`, trigger programs included: each opcode and its P4.
    fn program(conn: &Connection, sql: &str) -> Vec<(String, Option<String>)> {
        let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let unbound = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        stmt.query_map(rusqlite::params_from_iter(unbound), |row| {
            Ok((row.get(1)?, row.get(5)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn builds_a_tree(program: &[(String, Option<String>)]) -> bool {
        program.iter().any(|(op, _)| op == "OpenEphemeral")
    }

    fn lists_the_triggers(program: &[(String, Option<String>)]) -> bool {
        program
            .iter()
            .any(|(_, p4)| p4.as_deref().is_some_and(|p4| p4.contains("append-only")))
    }

    /// Regression: the `steps` outcome check listed four values with `IN`, for which SQLite built
    /// a temporary B-tree on every step recorded (over a quarter of the writer's instructions).
    #[test]
    fn recording_a_step_or_a_measurement_builds_no_temporary_b_tree() {
        use crate::held::{INSERT_MEASUREMENT, INSERT_STEP};
        let (mut store, _, _) = populated_v7();
        // The listing holds the trigger programs too, and the old check's tree.
        let v7 = program(&store.conn, INSERT_STEP);
        assert!(lists_the_triggers(&v7) && builds_a_tree(&v7), "{v7:?}");
        migrate(&mut store.conn).unwrap();
        for sql in [INSERT_STEP, INSERT_MEASUREMENT] {
            let program = program(&store.conn, sql);
            assert!(lists_the_triggers(&program), "{sql}: {program:?}");
            assert!(!builds_a_tree(&program), "{sql}: {program:?}");
        }
    }
}
