//! [`Source`] over a station's SQLite store, opened read-only: an analyst's query never takes
//! the write lock a station slot is waiting for.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, Row, params};

use crate::error::ResultsError;
use crate::filter::Filter;
use crate::rows::{Artifact, Interner, Measurement, Run, Runs, Step};
use crate::source::Source;

/// Selections smaller than this read their measurements run by run through the primary key;
/// larger ones scan the table once, which beats a million key lookups.
const KEYED_READ_LIMIT: usize = 20_000;

/// A rigor SQLite store, read-only.
#[derive(Debug)]
pub struct SqliteSource {
    conn: Connection,
    interner: RefCell<Interner>,
}

const RUNS: &str = "SELECT r.id, r.unit_serial, u.family, u.generation, r.scenario_name, \
     r.scenario_version, r.attempt, r.station, r.rig, r.slot, r.fixture_id, r.operator, \
     coalesce(r.firmware_version, substr(r.firmware_sha256, 1, 12)), r.limits_sha256, \
     r.started_at_us, e.ended_at_us, coalesce(e.outcome, 'incomplete'), e.failure_class, \
     e.message \
     FROM runs AS r JOIN units AS u ON u.serial = r.unit_serial \
     LEFT JOIN run_ends AS e ON e.run_id = r.id \
     WHERE (?1 IS NULL OR r.scenario_name = ?1) AND (?2 IS NULL OR u.family = ?2) \
       AND (?3 IS NULL OR u.generation = ?3) \
       AND (?4 IS NULL OR coalesce(r.firmware_version, substr(r.firmware_sha256, 1, 12)) = ?4) \
       AND (?5 IS NULL OR r.station = ?5) AND (?6 IS NULL OR r.rig = ?6) \
       AND (?7 IS NULL OR r.fixture_id = ?7) \
       AND (?8 IS NULL OR substr(r.limits_sha256, 1, length(?8)) = ?8) \
       AND (?9 IS NULL OR r.started_at_us >= ?9) AND (?10 IS NULL OR r.started_at_us < ?10) \
       AND (?11 IS NULL OR r.unit_serial GLOB ?11) \
     ORDER BY r.started_at_us, r.id";

const MEASUREMENT_COLUMNS: &str = "run_id, seq, step_index, name, value, text_value, unit, \
     comparator, low, low_inclusive, high, high_inclusive, marginal_low, marginal_high, marginal, \
     outcome, measured_at_us";

impl SqliteSource {
    /// Opens the store at `path` read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ResultsError> {
        let path = path.as_ref();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| {
            // A read waits for a slot's commit instead of failing at once.
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            // Fails here, with SQLite's reason, when the file is not a database at all.
            conn.query_row("SELECT count(*) FROM runs", [], |_| Ok(()))?;
            Ok(conn)
        })
        .map_err(|source| ResultsError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(SqliteSource {
            conn,
            interner: RefCell::new(Interner::default()),
        })
    }

    /// The connection, for hand-written SQL beside the views (benchmarks, ad-hoc checks).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn run(&self, row: &Row<'_>) -> rusqlite::Result<Run> {
        let mut i = self.interner.borrow_mut();
        let mut s =
            |idx: usize| -> rusqlite::Result<Arc<str>> { Ok(i.get(row.get_ref(idx)?.as_str()?)) };
        let family = s(2)?;
        let generation = s(3)?;
        let scenario = s(4)?;
        let scenario_version = s(5)?;
        let station = s(7)?;
        let rig = s(8)?;
        let slot = s(9)?;
        let operator = s(11)?;
        let limits_sha256 = s(13)?;
        let fixture = row.get_ref(10)?.as_str_or_null()?.map(|t| i.get(t));
        let firmware = row.get_ref(12)?.as_str_or_null()?.map(|t| i.get(t));
        Ok(Run {
            id: row.get(0)?,
            serial: row.get(1)?,
            family,
            generation,
            scenario,
            scenario_version,
            attempt: row.get(6)?,
            station,
            rig,
            slot,
            fixture,
            operator,
            firmware,
            limits_sha256,
            started_at_us: row.get(14)?,
            ended_at_us: row.get(15)?,
            status: row.get(16)?,
            failure_class: row.get(17)?,
            message: row.get(18)?,
        })
    }

    fn measurement(&self, row: &Row<'_>) -> rusqlite::Result<Measurement> {
        let mut i = self.interner.borrow_mut();
        let name = i.get(row.get_ref(3)?.as_str()?);
        let unit = row.get_ref(6)?.as_str_or_null()?.map(|t| i.get(t));
        let comparator = i.get(row.get_ref(7)?.as_str()?);
        Ok(Measurement {
            run_id: row.get(0)?,
            seq: row.get(1)?,
            step_index: row.get(2)?,
            name,
            value: row.get(4)?,
            text_value: row.get(5)?,
            unit,
            comparator,
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
    }
}

impl Source for SqliteSource {
    fn runs(&self, filter: &Filter) -> Result<Runs, ResultsError> {
        let mut stmt = self.conn.prepare_cached(RUNS)?;
        let mut rows = stmt.query(params![
            filter.scenario,
            filter.family,
            filter.generation,
            filter.firmware,
            filter.station,
            filter.rig,
            filter.fixture,
            filter.limits,
            filter.since_us,
            filter.until_us,
            filter.serial,
        ])?;
        let mut list = Vec::new();
        while let Some(row) = rows.next()? {
            let run = self.run(row)?;
            // GLOB also knows `[...]` classes; the filter's own rule is the one that counts.
            if filter.matches(&run) {
                list.push(run);
            }
        }
        Ok(Runs::new(list))
    }

    fn for_each_measurement(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Measurement),
    ) -> Result<(), ResultsError> {
        if runs.len() < KEYED_READ_LIMIT {
            let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {MEASUREMENT_COLUMNS} FROM measurements \
                 WHERE run_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY seq"
            ))?;
            for id in ids {
                let mut rows = stmt.query(params![id, name])?;
                while let Some(row) = rows.next()? {
                    each(&self.measurement(row)?);
                }
            }
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MEASUREMENT_COLUMNS} FROM measurements \
             WHERE ?1 IS NULL OR name = ?1 ORDER BY run_id, seq"
        ))?;
        let mut rows = stmt.query(params![name])?;
        while let Some(row) = rows.next()? {
            // Skips unselected runs before building the row: most of a full scan's rows.
            if runs.position(row.get(0)?).is_some() {
                each(&self.measurement(row)?);
            }
        }
        Ok(())
    }

    fn steps(&self, runs: &Runs) -> Result<Vec<Step>, ResultsError> {
        let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let mut stmt = self.conn.prepare_cached(
            "SELECT run_id, step_index, step_id, kind, attempt, started_at_us, ended_at_us, \
             outcome, message FROM steps WHERE run_id = ?1 ORDER BY step_index",
        )?;
        let mut out = Vec::new();
        let mut interner = self.interner.borrow_mut();
        for id in ids {
            let mut rows = stmt.query([id])?;
            while let Some(row) = rows.next()? {
                out.push(Step {
                    run_id: row.get(0)?,
                    index: row.get(1)?,
                    step_id: interner.get(&row.get::<_, String>(2)?),
                    kind: interner.get(&row.get::<_, String>(3)?),
                    attempt: row.get(4)?,
                    started_at_us: row.get(5)?,
                    ended_at_us: row.get(6)?,
                    outcome: row.get(7)?,
                    message: row.get(8)?,
                });
            }
        }
        Ok(out)
    }

    fn artifacts(&self, runs: &Runs) -> Result<Vec<Artifact>, ResultsError> {
        let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.run_id, a.step_index, a.name, a.media_type, a.sha256, b.size \
             FROM run_artifacts AS a JOIN artifact_blobs AS b ON b.sha256 = a.sha256 \
             WHERE a.run_id = ?1 ORDER BY a.id",
        )?;
        let mut out = Vec::new();
        for id in ids {
            let rows = stmt.query_map([id], |row| {
                Ok(Artifact {
                    run_id: row.get(0)?,
                    step_index: row.get(1)?,
                    name: row.get(2)?,
                    media_type: row.get(3)?,
                    sha256: row.get(4)?,
                    size: row.get(5)?,
                })
            })?;
            for artifact in rows {
                out.push(artifact?);
            }
        }
        Ok(out)
    }
}
