//! The recording seam. The store behind it keeps every unit's runs append-only; the engine hands
//! it every event and stops the run if it cannot record, because a station that cannot record
//! must not pass units.

use crate::event::{Event, RunInfo};

/// Keeps runs. Implemented by the SQLite store; `MemoryRecorder` serves tests.
pub trait Recorder: Send {
    /// A run of `run.unit` at `run.scenario` begins: returns its attempt number (1 for the first).
    fn begin(&mut self, run: &RunInfo) -> Result<u32, RecordError>;
    /// Keeps one event of a run that began. Durable when this returns: a crash after it loses nothing.
    fn record(&mut self, event: &Event) -> Result<(), RecordError>;
}

/// The recorder failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot record: {0}")]
pub struct RecordError(pub String);

/// Keeps events in memory, numbering attempts per unit and scenario.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    /// Everything recorded, in order.
    pub events: Vec<Event>,
    attempts: std::collections::HashMap<(String, String), u32>,
}

impl Recorder for MemoryRecorder {
    fn begin(&mut self, run: &RunInfo) -> Result<u32, RecordError> {
        let n = self
            .attempts
            .entry((run.unit.clone(), run.scenario.clone()))
            .or_insert(0);
        *n += 1;
        Ok(*n)
    }
    fn record(&mut self, event: &Event) -> Result<(), RecordError> {
        self.events.push(event.clone());
        Ok(())
    }
}
