//! Opening a store: connection settings for several writer processes, then migration.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode};

use crate::error::StoreError;
use crate::migrate;

/// How much a committed record survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a commit survives the process being killed (SIGKILL,
    /// panic, abort); the last commits before an OS crash or power loss may be lost, never
    /// corrupted. No fsync per record, which keeps a step's recording in microseconds.
    #[default]
    ProcessCrash,
    /// `synchronous=FULL`: every commit is fsynced and survives power loss, at the cost of one
    /// fsync per record (about 0.2 ms on the project's build machine, milliseconds on many
    /// disks, against tens of microseconds for [`Durability::ProcessCrash`]).
    PowerLoss,
}

/// Settings for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How durable each commit is.
    pub durability: Durability,
    /// How long a write waits for another process (one per station slot) to release the
    /// database before failing with a busy error.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::default(),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// An open rigor store: one SQLite connection. Write methods take `&mut self` and commit before
/// returning; several `Store`s (threads or processes) may share one file.
///
/// `Store` is `Send` but not `Sync`: the async engine owns it on a blocking thread (or behind a
/// mutex used from `spawn_blocking`).
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    /// Each open run's next measurement position, as this connection committed it.
    pub(crate) next_seq: crate::seq::NextSeq,
}

impl Store {
    /// Opens (creating if needed) the store at `path` with default [`OpenOptions`], migrating it
    /// to the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// Opens the store at `path` with `options`. A file SQLite finds damaged is
    /// [`StoreError::Damaged`], which says how to recover what it holds.
    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        Self::open_file(path, options).map_err(|e| e.at(path))
    }

    fn open_file(path: &Path, options: &OpenOptions) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
        // Whose file it is, before anything is changed: a file of another application is
        // refused byte for byte as it was (switching it to WAL would already rewrite it).
        migrate::check_identity(&conn).map_err(|e| match e {
            // Random bytes, a truncated file: SQLite cannot read it as a database at all.
            StoreError::Sqlite(source) => open_err(source),
            other => other,
        })?;
        configure(&conn, options).map_err(open_err)?;
        Self::migrated(conn)
    }

    /// Opens a private in-memory store, for tests and dry runs.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: ":memory:".into(),
            source,
        };
        let conn = Connection::open_in_memory().map_err(open_err)?;
        configure(&conn, &OpenOptions::default()).map_err(open_err)?;
        Self::migrated(conn)
    }

    fn migrated(mut conn: Connection) -> Result<Self, StoreError> {
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn,
            next_seq: Default::default(),
        })
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrate::schema_version(&self.conn)
    }
}

fn configure(conn: &Connection, options: &OpenOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(64);
    enable_wal(conn, options.busy_timeout)?;
    let synchronous = match options.durability {
        Durability::ProcessCrash => "normal",
        Durability::PowerLoss => "full",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Statement journals (a statement with triggers inside a multi-statement transaction)
    // stay in memory rather than in temporary files.
    conn.pragma_update(None, "temp_store", "memory")?;
    // The bundled SQLite has STAT4, under which a statement whose plan could depend on a bound
    // value (`WHERE run_id = ?1` on a key prefix) is prepared again on every new binding: half
    // the cost of a record. The store never runs ANALYZE, so the plans cannot gain from it.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Puts the file in WAL mode, which lets readers and the writers of other slots work at once
/// (an in-memory database answers `memory` and stays so). The mode is kept in the file, so this
/// only writes the first time. Switching needs an exclusive lock, and SQLite answers busy at
/// once, without its busy handler, when another connection opening the same new file holds a
/// lock; so this retries, with backoff, until the busy timeout.
fn enable_wal(conn: &Connection, timeout: Duration) -> rusqlite::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let result = conn
            .pragma_query_value(None, "journal_mode", |row| row.get::<_, String>(0))
            .and_then(|mode| match mode.as_str() {
                "wal" | "memory" => Ok(mode),
                _ => conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)),
            });
        match result {
            Ok(_) => return Ok(()),
            Err(err)
                if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(store: &Store, name: &str) -> i64 {
        store
            .conn
            .pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn file_store_is_wal_normal_with_foreign_keys_and_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("rigor.db")).unwrap();
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(pragma(&store, "synchronous"), 1); // NORMAL
        assert_eq!(pragma(&store, "foreign_keys"), 1);
        assert_eq!(pragma(&store, "busy_timeout"), 10_000);
        assert_eq!(store.schema_version().unwrap(), crate::SCHEMA_VERSION);
    }

    #[test]
    fn power_loss_durability_is_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let options = OpenOptions {
            durability: Durability::PowerLoss,
            busy_timeout: Duration::from_millis(250),
        };
        let store = Store::open_with(dir.path().join("rigor.db"), &options).unwrap();
        assert_eq!(pragma(&store, "synchronous"), 2); // FULL
        assert_eq!(pragma(&store, "busy_timeout"), 250);
    }

    #[test]
    fn store_can_move_to_a_writer_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Store>();
    }
}
