//! The yield and capability views' summary cache: a SQLite file beside the store
//! (`rigor.db-results-cache`), one row per filter asked for, holding the [`Summary`] of the runs
//! up to an id below which every run has ended.
//!
//! A sidecar file rather than a table in the store: the views open the store read-only so an
//! analyst never takes the write lock a station slot is waiting for, the recorded file is never
//! written by anything but the recorder, a store that is read-only still answers, and deleting
//! the sidecar loses nothing. A cached row is used only when it names the store's station UUID
//! and the UUID of the run it ends at (a copy of another store, or a store replaced by another,
//! fails that), its format is this build's and its SHA-256 matches its bytes; anything else is
//! rebuilt from the store, never trusted.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::SqliteSource;
use crate::error::ResultsError;
use crate::filter::Filter;
use crate::summary::Summary;

/// Whether views use the summary cache beside the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Neither read nor written: every view scans the store.
    Off,
    /// Read when present and valid, never written (a read-only store).
    Read,
    /// Read, and written when missing, stale or damaged.
    ReadWrite,
}

impl CacheMode {
    /// [`CacheMode::Read`] for a store file that is read-only, else [`CacheMode::ReadWrite`].
    pub fn for_store(path: &Path) -> CacheMode {
        match std::fs::metadata(path) {
            Ok(m) if !m.permissions().readonly() => CacheMode::ReadWrite,
            _ => CacheMode::Read,
        }
    }
}

/// The cache file of the store at `store`.
pub fn cache_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-results-cache");
    PathBuf::from(name)
}

/// Bumped whenever what a stored summary means changes.
const FORMAT: i64 = 1;

/// Filters kept; the least recently saved go first.
const KEEP: i64 = 32;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS summaries (
    filter        TEXT    NOT NULL PRIMARY KEY,
    format        INTEGER NOT NULL,
    station_uuid  TEXT    NOT NULL,
    upto_run_id   INTEGER NOT NULL,
    upto_run_uuid TEXT    NOT NULL,
    saved_at_us   INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    state         BLOB    NOT NULL
)";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What identifies the store's contents up to a run: its station and that run's UUIDs.
struct Identity {
    station: String,
}

impl SqliteSource {
    fn station_uuid(&self) -> Result<Option<String>, ResultsError> {
        // Stores older than schema version 3 have no identity: no cache for them.
        let has: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'station_identity'",
            [],
            |r| r.get(0),
        )?;
        if !has {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row("SELECT station_uuid FROM station_identity", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn run_uuid(&self, run_id: i64) -> Result<Option<String>, ResultsError> {
        Ok(self
            .conn
            .query_row(
                "SELECT uuid FROM run_uuids WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The highest run id at or below which every run has ended, searching from `from`.
    fn ended_prefix(&self, from: i64) -> Result<i64, ResultsError> {
        let open: Option<i64> = self.conn.query_row(
            "SELECT min(r.id) FROM runs AS r WHERE r.id > ?1 \
             AND NOT EXISTS (SELECT 1 FROM run_ends AS e WHERE e.run_id = r.id)",
            [from],
            |r| r.get(0),
        )?;
        match open {
            Some(id) => Ok(id - 1),
            None => Ok(self
                .conn
                .query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))?),
        }
    }

    /// [`crate::Source::summary`]: the cached summary for `filter`, brought up to the last run.
    pub(super) fn cached_summary(&self, filter: &Filter) -> Result<Option<Summary>, ResultsError> {
        // A serial pattern is not worth a cached row per pattern: those views scan.
        if self.cache == CacheMode::Off || filter.serial.is_some() {
            return Ok(None);
        }
        let Some(station) = self.station_uuid()? else {
            return Ok(None);
        };
        let id = Identity { station };
        let key = serde_json::to_string(filter)?;
        let sidecar = cache_path(&self.path);
        let mut summary = self.load(&sidecar, &key, &id).unwrap_or_default();
        let ended = self.ended_prefix(summary.upto())?;
        if ended > summary.upto() {
            self.extend(&mut summary, filter, ended)?;
            if self.cache == CacheMode::ReadWrite {
                // A cache that cannot be written (a full disk, a read-only folder) costs the
                // next query a scan, and this one nothing: the answer is already here.
                let _ = self.save(&sidecar, &key, &id, &summary);
            }
        }
        let last: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))?;
        if last > summary.upto() {
            self.extend(&mut summary, filter, last)?;
        }
        Ok(Some(summary))
    }

    /// The stored summary, when there is one this store can trust.
    fn load(&self, sidecar: &Path, key: &str, id: &Identity) -> Option<Summary> {
        if !sidecar.exists() {
            return None;
        }
        let conn = Connection::open_with_flags(
            sidecar,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        let (format, station, upto, upto_uuid, sha, state): (
            i64,
            String,
            i64,
            String,
            String,
            Vec<u8>,
        ) = conn
            .query_row(
                "SELECT format, station_uuid, upto_run_id, upto_run_uuid, sha256, state \
                 FROM summaries WHERE filter = ?1",
                [key],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .ok()?;
        if format != FORMAT || station != id.station || sha256_hex(&state) != sha {
            return None;
        }
        if self.run_uuid(upto).ok()?? != upto_uuid {
            return None;
        }
        let summary = Summary::from_bytes(&state).ok()?;
        (summary.upto() == upto).then_some(summary)
    }

    fn save(
        &self,
        sidecar: &Path,
        key: &str,
        id: &Identity,
        summary: &Summary,
    ) -> Result<(), ResultsError> {
        let Some(upto_uuid) = self.run_uuid(summary.upto())? else {
            return Ok(());
        };
        let state = summary.to_bytes()?;
        let mut conn = open_for_writing(sidecar)?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO summaries (filter, format, station_uuid, upto_run_id, \
             upto_run_uuid, saved_at_us, sha256, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                key,
                FORMAT,
                id.station,
                summary.upto(),
                upto_uuid,
                now_us(),
                sha256_hex(&state),
                state
            ],
        )?;
        tx.execute(
            "DELETE FROM summaries WHERE filter NOT IN \
             (SELECT filter FROM summaries ORDER BY saved_at_us DESC LIMIT ?1)",
            [KEEP],
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The sidecar, opened for writing; a file there that is not a cache of ours is replaced.
fn open_for_writing(sidecar: &Path) -> Result<Connection, ResultsError> {
    let open = || -> rusqlite::Result<Connection> {
        let conn = Connection::open(sidecar)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    };
    match open() {
        Ok(conn) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            std::fs::remove_file(sidecar).map_err(|source| ResultsError::Write {
                what: format!("damaged cache {}", sidecar.display()),
                source,
            })?;
            Ok(open()?)
        }
        Err(e) => Err(e.into()),
    }
}
