//! One run in full: its start, end, steps, measurements and artifact links, read in one
//! snapshot.

use rusqlite::{OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::artifact::ArtifactLink;
use crate::error::StoreError;
use crate::input::{
    FirmwareImage, FixtureUse, Limits, MeasurementRecord, RunEnd, RunStart, ScenarioRef,
    SessionUse, StepRecord, UnitIdentity,
};
use crate::store::Store;
use crate::types::RunId;

/// Everything recorded for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// Run id.
    pub id: RunId,
    /// Attempt number for this unit × scenario name.
    pub attempt: u32,
    /// As recorded at the start.
    pub start: RunStart,
    /// The end, unless the run is incomplete.
    pub end: Option<RunEnd>,
    /// Steps by index.
    pub steps: Vec<StepRecord>,
    /// Measurements in recording order.
    pub measurements: Vec<MeasurementRecord>,
    /// Artifact links in recording order.
    pub artifacts: Vec<ArtifactLink>,
}

impl Store {
    /// Everything recorded for `run`; [`StoreError::UnknownRun`] if there is no such run.
    pub fn run_detail(&self, run: RunId) -> Result<RunDetail, StoreError> {
        // One read transaction: a writer in another slot cannot slip rows in between the reads.
        let tx = self.conn.unchecked_transaction()?;
        let (attempt, start) = tx
            .prepare_cached(
                "SELECT r.attempt, r.unit_serial, u.family, u.generation, r.scenario_name, \
                 r.scenario_version, r.scenario_sha256, r.station, r.rig, r.slot, r.fixture_id, \
                 r.fixture_insertions, r.operator, r.firmware_sha256, r.firmware_version, \
                 r.limits_sha256, r.started_at_us, ss.session_id, ss.role \
                 FROM runs AS r JOIN units AS u ON u.serial = r.unit_serial \
                 LEFT JOIN run_sessions AS ss ON ss.run_id = r.id WHERE r.id = ?1",
            )?
            .query_row([run], |row| Ok((row.get(0)?, run_start(row)?)))
            .optional()?
            .ok_or(StoreError::UnknownRun(run))?;
        let end = tx
            .prepare_cached(
                "SELECT ended_at_us, outcome, failure_class, message FROM run_ends \
                 WHERE run_id = ?1",
            )?
            .query_row([run], |row| {
                Ok(RunEnd {
                    ended_at: row.get(0)?,
                    outcome: row.get(1)?,
                    failure_class: row.get(2)?,
                    message: row.get(3)?,
                })
            })
            .optional()?;
        let detail = RunDetail {
            id: run,
            attempt,
            start,
            end,
            steps: steps(&tx, run)?,
            measurements: measurements(&tx, run)?,
            artifacts: artifacts(&tx, run)?,
        };
        tx.finish()?;
        Ok(detail)
    }
}

fn run_start(row: &Row<'_>) -> rusqlite::Result<RunStart> {
    let fixture_id: Option<String> = row.get(10)?;
    let fixture_insertions: Option<u32> = row.get(11)?;
    let firmware_sha256: Option<String> = row.get(13)?;
    Ok(RunStart {
        unit: UnitIdentity {
            serial: row.get(1)?,
            family: row.get(2)?,
            generation: row.get(3)?,
        },
        scenario: ScenarioRef {
            name: row.get(4)?,
            version: row.get(5)?,
            sha256: row.get(6)?,
        },
        station: row.get(7)?,
        rig: row.get(8)?,
        slot: row.get(9)?,
        fixture: fixture_id
            .zip(fixture_insertions)
            .map(|(id, insertions)| FixtureUse {
                id,
                insertions: Some(insertions),
            }),
        operator: row.get(12)?,
        firmware: match firmware_sha256 {
            Some(sha256) => Some(FirmwareImage {
                sha256,
                version: row.get(14)?,
            }),
            None => None,
        },
        limits_sha256: row.get(15)?,
        session: match row.get::<_, Option<String>>(17)? {
            Some(id) => Some(SessionUse {
                id,
                role: row.get(18)?,
            }),
            None => None,
        },
        started_at: row.get(16)?,
    })
}

fn steps(tx: &Transaction<'_>, run: RunId) -> rusqlite::Result<Vec<StepRecord>> {
    let mut stmt = tx.prepare_cached(
        "SELECT step_index, step_id, kind, attempt, started_at_us, ended_at_us, outcome, message \
         FROM steps WHERE run_id = ?1 ORDER BY step_index",
    )?;
    let rows = stmt.query_map([run], |row| {
        Ok(StepRecord {
            index: row.get(0)?,
            step_id: row.get(1)?,
            kind: row.get(2)?,
            attempt: row.get(3)?,
            started_at: row.get(4)?,
            ended_at: row.get(5)?,
            outcome: row.get(6)?,
            message: row.get(7)?,
        })
    })?;
    rows.collect()
}

fn measurements(tx: &Transaction<'_>, run: RunId) -> rusqlite::Result<Vec<MeasurementRecord>> {
    let mut stmt = tx.prepare_cached(
        "SELECT step_index, name, value, text_value, unit, comparator, low, low_inclusive, high, \
         high_inclusive, marginal_low, marginal_high, marginal, outcome, measured_at_us \
         FROM measurements WHERE run_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([run], |row| {
        Ok(MeasurementRecord {
            step_index: row.get(0)?,
            name: row.get(1)?,
            value: row.get(2)?,
            text_value: row.get(3)?,
            unit: row.get(4)?,
            limits: Limits {
                comparator: row.get(5)?,
                low: row.get(6)?,
                low_inclusive: row.get(7)?,
                high: row.get(8)?,
                high_inclusive: row.get(9)?,
                marginal_low: row.get(10)?,
                marginal_high: row.get(11)?,
            },
            marginal: row.get(12)?,
            outcome: row.get(13)?,
            measured_at: row.get(14)?,
        })
    })?;
    rows.collect()
}

fn artifacts(tx: &Transaction<'_>, run: RunId) -> rusqlite::Result<Vec<ArtifactLink>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.step_index, a.name, a.media_type, a.sha256, b.size \
         FROM run_artifacts AS a JOIN artifact_blobs AS b ON b.sha256 = a.sha256 \
         WHERE a.run_id = ?1 ORDER BY a.id",
    )?;
    let rows = stmt.query_map([run], |row| {
        Ok(ArtifactLink {
            step_index: row.get(0)?,
            name: row.get(1)?,
            media_type: row.get(2)?,
            sha256: row.get(3)?,
            size: {
                let size: i64 = row.get(4)?;
                u64::try_from(size)
                    .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(4, size))?
            },
        })
    })?;
    rows.collect()
}
