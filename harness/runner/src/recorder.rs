//! The recording seam. The store behind it keeps every unit's runs append-only. The engine never
//! waits for it (see [`crate::sinks`]): a writer thread hands it groups of entries, and a run
//! stops, with its teardown, once a group could not be recorded, because a station that cannot
//! record must not pass units.

use std::sync::Arc;

use crate::event::{Event, RunInfo};

/// One thing to record: a run's start, which gets its attempt number, or one of its events.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A run begins.
    Begin(Arc<RunInfo>),
    /// Something happened in a run that began.
    Event(Event),
}

/// What recording one entry of a group came to: a begin's attempt number, `None` for an event.
pub type EntryResult = Result<Option<u32>, RecordError>;

/// Keeps runs. Implemented over the SQLite store by the station; [`MemoryRecorder`] serves tests.
pub trait Recorder: Send {
    /// Records `group` durably, in one commit where the backend can. `Ok` holds each entry's own
    /// result, in order (a refused entry leaves the others recorded); `Err` means the commit
    /// failed and none of the group is recorded.
    fn write(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError>;

    /// Keeps the events of `group` that could not be recorded somewhere they are recovered from
    /// later (a spill file the store replays), and says where; `None` if this recorder keeps
    /// nothing. Called for the group whose commit failed and for every group after it. A run
    /// whose start was never recorded never ran, so `Begin` entries need no keeping.
    fn spill(&mut self, group: &[Entry]) -> Option<Result<std::path::PathBuf, RecordError>> {
        let _ = group;
        None
    }
}

/// The recorder failed. Cloned to every run it stops, so the cause is shared, not copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The store refused or failed; its own error says why (SQLite's reason, the OS error).
    #[error("cannot record {what}")]
    Backend {
        /// What was being recorded (`the start of smoke on FC1-000101`, `a group of 12 records`).
        what: String,
        /// The store's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// An event for a slot with no run open: a bug in the engine's order of events.
    #[error("cannot record an event of slot `{slot}`: no run is open there")]
    NoOpenRun {
        /// The slot.
        slot: String,
    },
    /// The store could not take the records, and they are kept in a spill file instead.
    #[error(
        "the record is incomplete in the store; the rest of it is kept in {path}, which the \
         next run on this store replays into it"
    )]
    Spilled {
        /// The spill file.
        path: std::path::PathBuf,
        /// Why the store could not take them.
        #[source]
        source: Box<RecordError>,
    },
    /// Neither the store nor a spill file could take the records: what follows is lost.
    #[error("the record is incomplete and the rest of it could not be kept: {spill}")]
    Lost {
        /// Why they could not be spilled either.
        spill: Box<RecordError>,
        /// Why the store could not take them.
        #[source]
        source: Box<RecordError>,
    },
    /// The writer thread is gone (it panicked, or the sinks were finished).
    #[error("cannot record: the recorder has stopped")]
    Stopped,
}

impl RecordError {
    /// The store's `error` while recording `what`.
    pub fn backend(
        what: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        RecordError::Backend {
            what: what.into(),
            source: Arc::new(error),
        }
    }
}

/// Keeps events in memory, numbering attempts per unit and scenario.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    /// Everything recorded, in order.
    pub events: Vec<Event>,
    attempts: std::collections::HashMap<(String, String), u32>,
}

impl Recorder for MemoryRecorder {
    fn write(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        Ok(group
            .iter()
            .map(|entry| match entry {
                Entry::Begin(run) => {
                    let n = self
                        .attempts
                        .entry((run.unit.clone(), run.scenario.clone()))
                        .or_insert(0);
                    *n += 1;
                    Ok(Some(*n))
                }
                Entry::Event(event) => {
                    self.events.push(event.clone());
                    Ok(None)
                }
            })
            .collect())
    }
}
