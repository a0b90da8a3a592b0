//! The store's one error type.

use std::path::PathBuf;

use crate::types::RunId;

/// Why a store operation failed.
///
/// Messages are lowercase fragments; the CLI prints the source chain after them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured (WAL, synchronous, foreign keys).
    #[error("cannot open store {path}")]
    Open {
        /// The file (or `:memory:`).
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is an SQLite database of some other application.
    #[error("not a rigor store: {reason}")]
    NotARigorStore {
        /// What gave it away.
        reason: String,
    },
    /// The file was written by a newer rigor; this one will not guess at its layout.
    #[error(
        "store schema version {found} is newer than version {supported}, the newest this rigor \
         knows; upgrade rigor"
    )]
    SchemaTooNew {
        /// The version in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest version this code knows.
        supported: u32,
    },
    /// A migration's SQL failed; the whole upgrade was rolled back.
    #[error("migration to schema version {version} failed")]
    Migration {
        /// The version being migrated to.
        version: u32,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A unit came back with a different family or generation than it was first recorded with.
    #[error(
        "unit {serial} was first recorded as {recorded_family}/{recorded_generation}, \
         not {family}/{generation}"
    )]
    UnitMismatch {
        /// The serial number.
        serial: String,
        /// Family on record.
        recorded_family: String,
        /// Generation on record.
        recorded_generation: String,
        /// Family given now.
        family: String,
        /// Generation given now.
        generation: String,
    },
    /// No run has this id.
    #[error("run {0} does not exist")]
    UnknownRun(RunId),
    /// The run already has its end row; its record is sealed.
    #[error("run {0} has already ended")]
    RunAlreadyEnded(RunId),
    /// A step with this index was already recorded for the run.
    #[error("run {run} already has a step with index {index}")]
    DuplicateStep {
        /// The run.
        run: RunId,
        /// The step index recorded twice.
        index: u32,
    },
    /// An earlier record of an all-or-nothing batch failed (see
    /// [`crate::Store::all_or_nothing_batch`]): the batch must be dropped, not committed.
    #[error("an earlier record of this all-or-nothing batch failed; it cannot be committed")]
    BatchFailed,
    /// A field does not have the form the store requires.
    #[error("invalid {field} {value:?}: expected {expected}")]
    Invalid {
        /// Which field (`scenario.sha256`, `failure_class`).
        field: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A spill file (records kept beside the store) could not be written, read or removed.
    #[error("cannot use the spill file {path}")]
    Spill {
        /// The spill file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A line of a spill file is not a record rigor wrote.
    #[error("spill file {path}, line {line}: not a rigor spill record")]
    SpillFormat {
        /// The spill file.
        path: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// What the JSON reader said.
        #[source]
        source: serde_json::Error,
    },
    /// A spill file names another store: its run ids mean other runs here.
    #[error(
        "spill file {path} was written for the store of station {spilled_by}, not this one \
         ({this}); replay it into that store"
    )]
    SpillOfAnotherStore {
        /// The spill file.
        path: PathBuf,
        /// The station id in its header.
        spilled_by: uuid::Uuid,
        /// This store's station id.
        this: uuid::Uuid,
    },
    /// SQLite found the file damaged (a page that does not read as it must): nothing more is
    /// written to it, and a person has to recover what it holds.
    #[error(
        "the store {path} is damaged ({source}), so rigor cannot record into it: keep a copy of \
         it as it is, recover what SQLite can read with `sqlite3 {path} .recover > \
         recovered.sql`, and record into a new store",
        path = path.display()
    )]
    Damaged {
        /// The store file.
        path: PathBuf,
        /// What SQLite said (`database disk image is malformed`).
        source: rusqlite::Error,
    },
    /// SQLite refused or failed an operation: its reason is in the message, since it is what a
    /// technician at the line needs (disk full, read-only file, a damaged page).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// This error, as [`StoreError::Damaged`] when SQLite found the store at `path` damaged; any
    /// other error as it is. A caller that knows the file calls it on what the store returned.
    pub fn at(self, path: &std::path::Path) -> StoreError {
        match self {
            StoreError::Sqlite(source) | StoreError::Open { source, .. }
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) =>
            {
                StoreError::Damaged {
                    path: path.to_owned(),
                    source,
                }
            }
            other => other,
        }
    }
}

/// An error and its sources, `a: b: c`, leaving out a source whose text the message already
/// carries (SQLite's reason is often in a source; a store error's message may repeat it).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
