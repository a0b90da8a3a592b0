//! Bringing a central database to [`CENTRAL_SCHEMA_VERSION`], and checking that it is there
//! before forwarding into it.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::error::CentralError;
use crate::schema::{CENTRAL_SCHEMA_VERSION, MIGRATIONS};

/// Serialises concurrent `migrate` calls on one database (`rgr1` in ASCII).
const MIGRATION_LOCK: i64 = 0x7267_7231;

/// Applies the missing migrations in one transaction; returns the version the database is at.
/// Refuses a database a newer rigor has migrated.
pub async fn migrate(client: &mut Client, target: &str) -> Result<i32, CentralError> {
    let tx = client
        .transaction()
        .await
        .map_err(CentralError::pg("begin the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(CentralError::pg("lock the schema for migration"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS rigor_schema (
             version    integer     NOT NULL PRIMARY KEY CHECK (version >= 1),
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(CentralError::pg("create the schema version table"))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM rigor_schema", &[])
        .await
        .map_err(CentralError::pg("read the schema version"))?
        .get(0);
    if current > CENTRAL_SCHEMA_VERSION {
        return Err(CentralError::SchemaMismatch {
            target: target.to_owned(),
            found: current,
            expected: CENTRAL_SCHEMA_VERSION,
            advice: "a newer rigor migrated it; upgrade this station's rigor",
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let version = migration.version;
        tx.batch_execute(migration.sql)
            .await
            .map_err(|source| CentralError::Migration { version, source })?;
        tx.execute(
            "INSERT INTO rigor_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(|source| CentralError::Migration { version, source })?;
    }
    tx.commit()
        .await
        .map_err(CentralError::pg("commit the migration"))?;
    Ok(CENTRAL_SCHEMA_VERSION)
}

/// Checks that the database is at exactly the version this rigor writes.
pub async fn check_version(client: &Client, target: &str) -> Result<(), CentralError> {
    let found: Option<i32> = match client
        .query_one("SELECT max(version) FROM rigor_schema", &[])
        .await
    {
        Ok(row) => row.get(0),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => None,
        Err(e) => return Err(CentralError::pg("read the schema version")(e)),
    };
    match found {
        None => Err(CentralError::NotMigrated {
            target: target.to_owned(),
        }),
        Some(found) if found == CENTRAL_SCHEMA_VERSION => Ok(()),
        Some(found) => Err(CentralError::SchemaMismatch {
            target: target.to_owned(),
            found,
            expected: CENTRAL_SCHEMA_VERSION,
            advice: if found < CENTRAL_SCHEMA_VERSION {
                "run `rigor central migrate` with this rigor"
            } else {
                "a newer rigor migrated it; upgrade this station's rigor"
            },
        }),
    }
}
