//! The statements a batch runs for every step and measurement, taken from the connection's
//! statement cache once per batch. A lookup by SQL text hashes the text, copies it as the cache's
//! key and hashes it again on the way back: about 5 % of the writer's time when done per row.

use rusqlite::{CachedStatement, Connection, params};

use crate::error::StoreError;
use crate::input::{MeasurementRecord, StepRecord};
use crate::types::RunId;

/// A step's row: the insert run for every step recorded.
pub(crate) const INSERT_STEP: &str = "INSERT INTO steps (run_id, step_index, step_id, kind, \
     attempt, started_at_us, ended_at_us, outcome, message) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// A measurement's row: the insert run for every value judged.
pub(crate) const INSERT_MEASUREMENT: &str = "INSERT INTO measurements (run_id, seq, step_index, \
     name, value, text_value, unit, comparator, low, low_inclusive, high, high_inclusive, \
     marginal_low, marginal_high, marginal, outcome, measured_at_us) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// A batch's hot statements, each prepared (or taken from the cache) on first use and given back
/// to the cache when the batch ends. They work inside the batch's savepoints too: a savepoint is
/// the same connection.
pub(crate) struct Held<'c> {
    conn: &'c Connection,
    step: Option<CachedStatement<'c>>,
    measurement: Option<CachedStatement<'c>>,
}

impl<'c> Held<'c> {
    /// Nothing held yet, for a batch on `conn`.
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Held {
            conn,
            step: None,
            measurement: None,
        }
    }

    /// Inserts `step` of `run`.
    pub(crate) fn insert_step(&mut self, run: RunId, step: &StepRecord) -> Result<(), StoreError> {
        take(&mut self.step, self.conn, INSERT_STEP)?.execute(params![
            run,
            step.index,
            step.step_id,
            step.kind,
            step.attempt,
            step.started_at,
            step.ended_at,
            step.outcome,
            step.message,
        ])?;
        Ok(())
    }

    /// Inserts measurement `m` of `run` at position `seq`.
    pub(crate) fn insert_measurement(
        &mut self,
        run: RunId,
        seq: i64,
        m: &MeasurementRecord,
    ) -> Result<(), StoreError> {
        let limits = &m.limits;
        take(&mut self.measurement, self.conn, INSERT_MEASUREMENT)?.execute(params![
            run,
            seq,
            m.step_index,
            m.name,
            m.value,
            m.text_value,
            m.unit,
            limits.comparator,
            limits.low,
            limits.low_inclusive,
            limits.high,
            limits.high_inclusive,
            limits.marginal_low,
            limits.marginal_high,
            m.marginal,
            m.outcome,
            m.measured_at,
        ])?;
        Ok(())
    }
}

/// The statement in `slot`, taken from `conn`'s cache on first use.
fn take<'h, 'c>(
    slot: &'h mut Option<CachedStatement<'c>>,
    conn: &'c Connection,
    sql: &str,
) -> rusqlite::Result<&'h mut CachedStatement<'c>> {
    match slot {
        Some(stmt) => Ok(stmt),
        None => Ok(slot.insert(conn.prepare_cached(sql)?)),
    }
}
