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
        tx.execute_batch(migration.sql)
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
        };
        const B: Migration = Migration {
            version: 2,
            sql: "ALTER TABLE t ADD COLUMN y TEXT; INSERT INTO t VALUES (2, 'b');",
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
        };
        const BAD: Migration = Migration {
            version: 2,
            sql: "CREATE TABLE u (x INTEGER); INSERT INTO nowhere VALUES (1);",
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
}
