//! Reading runs out for forwarding to a central store: every row of each run, with the run's
//! UUID in place of the file-local `runs.id`, read in one snapshot so a run's end and the steps
//! before it are seen together.

use rusqlite::{Connection, Row, params};
use uuid::Uuid;

use crate::error::StoreError;
use crate::store::Store;
use crate::types::RunId;

/// A run with its unit and, if it has ended, its end.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // one field per column of `units`, `runs` and `run_ends`
pub struct ExportRun {
    /// The file-local id, for marking the run forwarded.
    pub id: RunId,
    pub uuid: Uuid,
    pub unit_serial: String,
    pub family: String,
    pub generation: String,
    pub unit_first_seen_us: i64,
    pub scenario_name: String,
    pub scenario_version: String,
    pub scenario_sha256: String,
    pub attempt: i64,
    pub station: String,
    pub rig: String,
    pub slot: String,
    pub fixture_id: Option<String>,
    pub fixture_insertions: Option<i64>,
    pub operator: String,
    pub firmware_sha256: Option<String>,
    pub firmware_version: Option<String>,
    pub limits_sha256: String,
    pub started_at_us: i64,
    pub end: Option<ExportEnd>,
    /// The multi-device session the run belongs to, if any.
    pub session: Option<ExportSession>,
}

/// A `run_sessions` row: the session's id, shared by every unit's run, and this unit's role.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ExportSession {
    pub id: String,
    pub role: String,
}

/// A `run_ends` row.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ExportEnd {
    pub ended_at_us: i64,
    pub outcome: String,
    pub failure_class: Option<String>,
    pub message: Option<String>,
}

/// A `steps` row.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ExportStep {
    pub run: Uuid,
    pub step_index: i64,
    pub step_id: String,
    pub kind: String,
    pub attempt: i64,
    pub started_at_us: i64,
    pub ended_at_us: i64,
    pub outcome: String,
    pub message: Option<String>,
}

/// A `measurements` row.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ExportMeasurement {
    pub run: Uuid,
    pub seq: i64,
    pub step_index: i64,
    pub name: String,
    pub value: Option<f64>,
    pub text_value: Option<String>,
    pub unit: Option<String>,
    pub comparator: String,
    pub low: Option<f64>,
    pub low_inclusive: bool,
    pub high: Option<f64>,
    pub high_inclusive: bool,
    pub marginal_low: Option<f64>,
    pub marginal_high: Option<f64>,
    pub marginal: bool,
    pub outcome: String,
    pub measured_at_us: i64,
}

/// A `run_artifacts` row; the blob is read separately ([`Store::artifact_content`]) and only
/// when the central store lacks it.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ExportArtifact {
    pub run: Uuid,
    /// `run_artifacts.id`, the link's key within its run.
    pub link_id: i64,
    pub step_index: Option<i64>,
    pub name: String,
    pub media_type: String,
    pub sha256: String,
}

/// Everything recorded for a set of runs, at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Export {
    pub runs: Vec<ExportRun>,
    pub steps: Vec<ExportStep>,
    pub measurements: Vec<ExportMeasurement>,
    pub artifacts: Vec<ExportArtifact>,
}

impl Export {
    /// How many rows it holds (runs, ends, steps, measurements and artifact links).
    pub fn rows(&self) -> usize {
        self.runs.len()
            + self.runs.iter().filter(|r| r.end.is_some()).count()
            + self.steps.len()
            + self.measurements.len()
            + self.artifacts.len()
    }
}

/// Run ids as a JSON array for `json_each`, so one statement takes any number of them.
fn id_list(runs: &[RunId]) -> String {
    let ids: Vec<String> = runs.iter().map(|r| r.0.to_string()).collect();
    format!("[{}]", ids.join(","))
}

impl Store {
    /// Reads `runs` (ordered by id) and every row that belongs to them, in one read transaction.
    pub fn export_runs(&self, runs: &[RunId]) -> Result<Export, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let ids = id_list(runs);
        let export = Export {
            runs: read_runs(&tx, &ids)?,
            steps: read(&tx, STEPS, &ids, |row| {
                Ok(ExportStep {
                    run: uuid_at(row, 0)?,
                    step_index: row.get(1)?,
                    step_id: row.get(2)?,
                    kind: row.get(3)?,
                    attempt: row.get(4)?,
                    started_at_us: row.get(5)?,
                    ended_at_us: row.get(6)?,
                    outcome: row.get(7)?,
                    message: row.get(8)?,
                })
            })?,
            measurements: read(&tx, MEASUREMENTS, &ids, |row| {
                Ok(ExportMeasurement {
                    run: uuid_at(row, 0)?,
                    seq: row.get(1)?,
                    step_index: row.get(2)?,
                    name: row.get(3)?,
                    value: row.get(4)?,
                    text_value: row.get(5)?,
                    unit: row.get(6)?,
                    comparator: row.get(7)?,
                    low: row.get(8)?,
                    low_inclusive: row.get(9)?,
                    high: row.get(10)?,
                    high_inclusive: row.get(11)?,
                    marginal_low: row.get(12)?,
                    marginal_high: row.get(13)?,
                    marginal: row.get(14)?,
                    outcome: row.get(15)?,
                    measured_at_us: row.get(16)?,
                })
            })?,
            artifacts: read(&tx, ARTIFACTS, &ids, |row| {
                Ok(ExportArtifact {
                    run: uuid_at(row, 0)?,
                    link_id: row.get(1)?,
                    step_index: row.get(2)?,
                    name: row.get(3)?,
                    media_type: row.get(4)?,
                    sha256: row.get(5)?,
                })
            })?,
        };
        tx.finish()?;
        Ok(export)
    }
}

const RUNS: &str = "SELECT r.id, q.uuid, r.unit_serial, u.family, u.generation, u.first_seen_us, \
     r.scenario_name, r.scenario_version, r.scenario_sha256, r.attempt, r.station, r.rig, r.slot, \
     r.fixture_id, r.fixture_insertions, r.operator, r.firmware_sha256, r.firmware_version, \
     r.limits_sha256, r.started_at_us, e.ended_at_us, e.outcome, e.failure_class, e.message, \
     ss.session_id, ss.role \
     FROM json_each(?1) AS j \
     JOIN runs AS r ON r.id = j.value \
     JOIN run_uuids AS q ON q.run_id = r.id \
     JOIN units AS u ON u.serial = r.unit_serial \
     LEFT JOIN run_ends AS e ON e.run_id = r.id \
     LEFT JOIN run_sessions AS ss ON ss.run_id = r.id \
     ORDER BY r.id";

const STEPS: &str = "SELECT q.uuid, s.step_index, s.step_id, s.kind, s.attempt, \
     s.started_at_us, s.ended_at_us, s.outcome, s.message \
     FROM json_each(?1) AS j JOIN run_uuids AS q ON q.run_id = j.value \
     JOIN steps AS s ON s.run_id = j.value ORDER BY s.run_id, s.step_index";

const MEASUREMENTS: &str = "SELECT q.uuid, m.seq, m.step_index, m.name, m.value, m.text_value, \
     m.unit, m.comparator, m.low, m.low_inclusive, m.high, m.high_inclusive, m.marginal_low, \
     m.marginal_high, m.marginal, m.outcome, m.measured_at_us \
     FROM json_each(?1) AS j JOIN run_uuids AS q ON q.run_id = j.value \
     JOIN measurements AS m ON m.run_id = j.value ORDER BY m.run_id, m.seq";

const ARTIFACTS: &str = "SELECT q.uuid, a.id, a.step_index, a.name, a.media_type, a.sha256 \
     FROM json_each(?1) AS j JOIN run_uuids AS q ON q.run_id = j.value \
     JOIN run_artifacts AS a ON a.run_id = j.value ORDER BY a.id";

fn read_runs(tx: &Connection, ids: &str) -> Result<Vec<ExportRun>, StoreError> {
    read(tx, RUNS, ids, |row| {
        let ended_at_us: Option<i64> = row.get(20)?;
        let session_id: Option<String> = row.get(24)?;
        Ok(ExportRun {
            id: row.get(0)?,
            uuid: uuid_at(row, 1)?,
            unit_serial: row.get(2)?,
            family: row.get(3)?,
            generation: row.get(4)?,
            unit_first_seen_us: row.get(5)?,
            scenario_name: row.get(6)?,
            scenario_version: row.get(7)?,
            scenario_sha256: row.get(8)?,
            attempt: row.get(9)?,
            station: row.get(10)?,
            rig: row.get(11)?,
            slot: row.get(12)?,
            fixture_id: row.get(13)?,
            fixture_insertions: row.get(14)?,
            operator: row.get(15)?,
            firmware_sha256: row.get(16)?,
            firmware_version: row.get(17)?,
            limits_sha256: row.get(18)?,
            started_at_us: row.get(19)?,
            end: match ended_at_us {
                Some(ended_at_us) => Some(ExportEnd {
                    ended_at_us,
                    outcome: row.get(21)?,
                    failure_class: row.get(22)?,
                    message: row.get(23)?,
                }),
                None => None,
            },
            session: match session_id {
                Some(id) => Some(ExportSession {
                    id,
                    role: row.get(25)?,
                }),
                None => None,
            },
        })
    })
}

fn read<T>(
    tx: &Connection,
    sql: &str,
    ids: &str,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params![ids], map)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn uuid_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(index)?;
    Uuid::parse_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}
