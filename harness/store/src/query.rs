//! What analysts and the CLI ask: a unit's runs, its factory footprint, runs left incomplete,
//! and first-pass yield. Each reads one of the schema's views.

use rusqlite::{Row, ToSql};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::store::Store;
use crate::types::{FailureClass, RunId, RunStatus, Timestamp};

/// One row of the `run_summary` view: a run, its unit, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub run_id: RunId,
    /// Unit serial.
    pub unit_serial: String,
    /// Unit family.
    pub family: String,
    /// Unit generation.
    pub generation: String,
    /// Scenario name.
    pub scenario_name: String,
    /// Scenario version.
    pub scenario_version: String,
    /// Attempt number for this unit × scenario name.
    pub attempt: u32,
    /// Station.
    pub station: String,
    /// Rig.
    pub rig: String,
    /// Slot.
    pub slot: String,
    /// Operator.
    pub operator: String,
    /// Start.
    pub started_at: Timestamp,
    /// End, when there is an end row.
    pub ended_at: Option<Timestamp>,
    /// Outcome, or incomplete.
    pub status: RunStatus,
    /// Failure class of a run that did not pass.
    pub failure_class: Option<FailureClass>,
    /// The end's message.
    pub message: Option<String>,
}

const SUMMARY_COLUMNS: &str = "run_id, unit_serial, family, generation, scenario_name, \
     scenario_version, attempt, station, rig, slot, operator, started_at_us, ended_at_us, \
     outcome, failure_class, message";

impl RunSummary {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RunSummary {
            run_id: row.get(0)?,
            unit_serial: row.get(1)?,
            family: row.get(2)?,
            generation: row.get(3)?,
            scenario_name: row.get(4)?,
            scenario_version: row.get(5)?,
            attempt: row.get(6)?,
            station: row.get(7)?,
            rig: row.get(8)?,
            slot: row.get(9)?,
            operator: row.get(10)?,
            started_at: row.get(11)?,
            ended_at: row.get(12)?,
            status: row.get(13)?,
            failure_class: row.get(14)?,
            message: row.get(15)?,
        })
    }
}

/// Which groups [`Store::first_pass_yield`] reports; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YieldFilter {
    /// Only this scenario name.
    pub scenario: Option<String>,
    /// Only this family.
    pub family: Option<String>,
    /// Only this generation.
    pub generation: Option<String>,
}

/// One row of the `first_pass_yield` view: a scenario × family × generation, counted as
/// `rigor results yield` counts (see the schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YieldRow {
    /// Scenario name.
    pub scenario_name: String,
    /// Unit family.
    pub family: String,
    /// Unit generation.
    pub generation: String,
    /// Units with an ended attempt.
    pub units: u32,
    /// Of those, units with an attempt that judged the device: the yields' denominator.
    pub judged: u32,
    /// Units whose first judged attempt passed.
    pub first_pass: u32,
    /// Units that passed at some attempt.
    pub final_pass: u32,
    /// `first_pass / judged`, when any unit was judged.
    pub first_pass_yield: Option<f64>,
    /// `final_pass / judged`, when any unit was judged.
    pub final_yield: Option<f64>,
    /// Attempts that ended in an infrastructure failure (held against no unit).
    pub infrastructure_runs: u32,
    /// Units whose ended attempts never judged the device.
    pub unjudged: u32,
}

impl Store {
    /// Every run of a unit, every scenario, in start order.
    pub fn runs_of_unit(&self, serial: &str) -> Result<Vec<RunSummary>, StoreError> {
        self.summaries(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM run_summary WHERE unit_serial = ?1 \
                 ORDER BY started_at_us, run_id"
            ),
            &[&serial],
        )
    }

    /// The runs of a multi-device session (each unit's own record), ordered by role
    /// (`gateway[0]`, `sensor[0]`, `sensor[1]`), each with its role.
    pub fn runs_of_session(&self, session: &str) -> Result<Vec<(String, RunSummary)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, role FROM session_runs WHERE session_id = ?1 \
             ORDER BY role, run_id"
        ))?;
        let rows = stmt.query_map([session], |row| {
            Ok((row.get(16)?, RunSummary::from_row(row)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A unit's first factory sequence (the `unit_footprint` view), in start order: for each
    /// scenario, attempts 1 up to the first that passed, or all of them if none has.
    pub fn footprint(&self, serial: &str) -> Result<Vec<RunSummary>, StoreError> {
        self.summaries(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM unit_footprint WHERE unit_serial = ?1 \
                 ORDER BY started_at_us, run_id"
            ),
            &[&serial],
        )
    }

    /// Runs with no end row (still running, or their process died), oldest first.
    pub fn incomplete_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.summaries(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM run_summary WHERE outcome = 'incomplete' \
                 ORDER BY started_at_us, run_id"
            ),
            &[],
        )
    }

    /// First-pass yield per scenario × family × generation, as the `first_pass_yield` view
    /// defines it, sorted by those three.
    pub fn first_pass_yield(&self, filter: &YieldFilter) -> Result<Vec<YieldRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT scenario_name, family, generation, units, judged, first_pass, final_pass, \
             first_pass_yield, final_yield, infrastructure_runs, unjudged FROM first_pass_yield \
             WHERE (?1 IS NULL OR scenario_name = ?1) AND (?2 IS NULL OR family = ?2) \
               AND (?3 IS NULL OR generation = ?3) \
             ORDER BY scenario_name, family, generation",
        )?;
        let rows = stmt.query_map(
            [&filter.scenario, &filter.family, &filter.generation],
            |row| {
                Ok(YieldRow {
                    scenario_name: row.get(0)?,
                    family: row.get(1)?,
                    generation: row.get(2)?,
                    units: row.get(3)?,
                    judged: row.get(4)?,
                    first_pass: row.get(5)?,
                    final_pass: row.get(6)?,
                    first_pass_yield: row.get(7)?,
                    final_yield: row.get(8)?,
                    infrastructure_runs: row.get(9)?,
                    unjudged: row.get(10)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn summaries(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Vec<RunSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, RunSummary::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
