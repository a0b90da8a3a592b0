//! [`Source`] over a station's SQLite store, opened read-only: an analyst's query never takes
//! the write lock a station slot is waiting for.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, Row, params};

pub use cache::{CacheMode, cache_path};

mod cache;
mod parts;
mod summarize;

use crate::error::ResultsError;
use crate::filter::Filter;
use crate::rows::{Artifact, Interner, Measurement, Run, Runs, Step};
use crate::source::{Reading, Source};
use crate::summary::Summary;
use crate::sums::GroupSums;

/// Whether to read `runs`' measurements run by run through the primary key rather than scan
/// the whole table once: worth it for a small part of the store (a unit, a day of a year),
/// not for most of it, where one sequential scan beats a million key lookups.
fn keyed_read(conn: &Connection, runs: &Runs) -> Result<bool, ResultsError> {
    let total: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))?;
    Ok((runs.len() as i64).saturating_mul(8) < total)
}

/// A read-only connection to the store at `path`, tuned for views that read most of a file.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A read waits for a slot's commit instead of failing at once.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Views read most of a large file: mapped pages spare a system call per page, and a page
    // cache larger than SQLite's 2 MB default keeps the runs' and units' b-tree pages between
    // the million lookups of a join.
    conn.pragma_update(None, "mmap_size", 1i64 << 34)?;
    conn.pragma_update(None, "cache_size", -262_144i64)?;
    conn.pragma_update(None, "temp_store", "memory")?;
    // Fails here, with SQLite's reason, when the file is not a database at all.
    conn.query_row("SELECT count(*) FROM runs", [], |_| Ok(()))?;
    Ok(conn)
}

/// A rigor SQLite store, read-only.
#[derive(Debug)]
pub struct SqliteSource {
    conn: Connection,
    // Parallel scans open a connection of their own per part.
    path: PathBuf,
    // None: decided per scan (see `parts.rs`).
    scan_parts: Option<usize>,
    interner: RefCell<Interner>,
    cache: CacheMode,
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
       AND (?11 IS NULL OR r.unit_serial GLOB ?11)";

const MEASUREMENT_COLUMNS: &str = "run_id, seq, step_index, name, value, text_value, unit, \
     comparator, low, low_inclusive, high, high_inclusive, marginal_low, marginal_high, marginal, \
     outcome, measured_at_us";

impl SqliteSource {
    /// Opens the store at `path` read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ResultsError> {
        let path = path.as_ref();
        let conn = connect(path).map_err(|source| ResultsError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(SqliteSource {
            conn,
            path: path.to_owned(),
            scan_parts: None,
            interner: RefCell::new(Interner::default()),
            cache: CacheMode::for_store(path),
        })
    }

    /// Splits scans of the whole file into `parts` threads, each on a connection of its own,
    /// whatever the selection's size (by default: one part per core for large selections, one
    /// for small). Tests hold the parts' merged sums against one scan's.
    pub fn with_scan_parts(mut self, parts: usize) -> Self {
        self.scan_parts = Some(parts);
        self
    }

    /// Whether the yield and capability views may read and write their summary cache beside
    /// the store (by default: both, or only read when the store file is read-only).
    pub fn with_cache(mut self, mode: CacheMode) -> Self {
        self.cache = mode;
        self
    }

    /// The connection, for hand-written SQL beside the views (benchmarks, ad-hoc checks).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn run(&self, row: &Row<'_>, columns: &mut RunColumns) -> rusqlite::Result<Run> {
        let mut i = self.interner.borrow_mut();
        let mut s = |idx: usize| -> rusqlite::Result<Arc<str>> {
            let text = row.get_ref(idx)?.as_str()?;
            Ok(columns.text(idx, text, &mut i))
        };
        let family = s(2)?;
        let generation = s(3)?;
        let scenario = s(4)?;
        let scenario_version = s(5)?;
        let station = s(7)?;
        let rig = s(8)?;
        let slot = s(9)?;
        let operator = s(11)?;
        let limits_sha256 = s(13)?;
        let fixture = row
            .get_ref(10)?
            .as_str_or_null()?
            .map(|b| columns.text(10, b, &mut i));
        let firmware = row
            .get_ref(12)?
            .as_str_or_null()?
            .map(|b| columns.text(12, b, &mut i));
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

/// The repeated text columns of one runs query, each with the few values it has shown lately:
/// a million runs name the same few stations, generations and firmware versions, and a short
/// comparison with a recent value costs less than hashing the text into the interner.
#[derive(Default)]
struct RunColumns {
    recent: [Vec<Arc<str>>; 14],
}

/// Values remembered per column; a column with more (fixtures of a large line) falls back to
/// the interner for the rest.
const RECENT: usize = 8;

impl RunColumns {
    fn text(&mut self, column: usize, text: &str, interner: &mut Interner) -> Arc<str> {
        let Some(recent) = self.recent.get_mut(column) else {
            return interner.get(text);
        };
        if let Some(shared) = recent.iter().find(|s| &***s == text) {
            return shared.clone();
        }
        let shared = interner.get(text);
        if recent.len() < RECENT {
            recent.push(shared.clone());
        }
        shared
    }
}

/// Names seen by one reading scan, by their bytes. Readings cycle through the same few names in
/// the same order run after run, so guessing "the one after the last" hits almost always and
/// costs one short comparison instead of a hash.
#[derive(Default)]
struct NameCache {
    names: Vec<(Box<[u8]>, Arc<str>)>,
    last: usize,
}

impl NameCache {
    fn index(&mut self, bytes: &[u8]) -> Option<u32> {
        let guess = if self.last + 1 < self.names.len() {
            self.last + 1
        } else {
            0
        };
        let found = if self.names.get(guess).is_some_and(|(b, _)| &**b == bytes) {
            guess
        } else if let Some(i) = self.names.iter().position(|(b, _)| &**b == bytes) {
            i
        } else {
            let text = std::str::from_utf8(bytes).ok()?;
            self.names.push((Box::from(bytes), Arc::from(text)));
            self.names.len() - 1
        };
        self.last = found;
        u32::try_from(found).ok()
    }
}

const VALUE_COLUMNS: &str = "run_id, seq, name, value, low, high, outcome = 'fail'";

const READING_COLUMNS: &str = "run_id, seq, name, value, unit, low, high, outcome = 'fail', measured_at_us, \
     marginal_low, marginal_high";

impl SqliteSource {
    fn reading_rows(
        &self,
        rows: &mut rusqlite::Rows<'_>,
        runs: &Runs,
        names: &mut NameCache,
        lean: bool,
        each: &mut dyn FnMut(&Reading<'_>),
    ) -> Result<(), ResultsError> {
        let mut units: Vec<Arc<str>> = Vec::new();
        if lean {
            while let Some(row) = rows.next()? {
                let run_id: i64 = row.get(0)?;
                let Some(run_position) = runs.position(run_id) else {
                    continue;
                };
                let Some(value) = row.get_ref(3)?.as_f64_or_null()? else {
                    continue;
                };
                let Some(name_index) = names.index(row.get_ref(2)?.as_bytes()?) else {
                    continue;
                };
                each(&Reading {
                    run_id,
                    run_position,
                    seq: row.get(1)?,
                    name: &names.names[name_index as usize].1,
                    name_index,
                    value,
                    unit: None,
                    low: row.get_ref(4)?.as_f64_or_null()?,
                    high: row.get_ref(5)?.as_f64_or_null()?,
                    marginal_low: None,
                    marginal_high: None,
                    failed: row.get(6)?,
                    measured_at_us: 0,
                });
            }
            return Ok(());
        }
        while let Some(row) = rows.next()? {
            let run_id: i64 = row.get(0)?;
            let Some(run_position) = runs.position(run_id) else {
                continue;
            };
            let Some(value) = row.get_ref(3)?.as_f64_or_null()? else {
                continue;
            };
            let Some(name_index) = names.index(row.get_ref(2)?.as_bytes()?) else {
                continue;
            };
            let unit = row.get_ref(4)?.as_str_or_null()?.map(|u| {
                units.iter().position(|k| &**k == u).unwrap_or_else(|| {
                    units.push(Arc::from(u));
                    units.len() - 1
                })
            });
            each(&Reading {
                run_id,
                run_position,
                seq: row.get(1)?,
                name: &names.names[name_index as usize].1,
                name_index,
                value,
                unit: unit.map(|i| &units[i]),
                low: row.get_ref(5)?.as_f64_or_null()?,
                high: row.get_ref(6)?.as_f64_or_null()?,
                marginal_low: row.get_ref(9)?.as_f64_or_null()?,
                marginal_high: row.get_ref(10)?.as_f64_or_null()?,
                failed: row.get(7)?,
                measured_at_us: row.get(8)?,
            });
        }
        Ok(())
    }
}

impl SqliteSource {
    /// The runs `filter` selects that also meet `more` (SQL over `r`, the runs table, with
    /// parameters from `?12` on), in no particular order.
    fn select_runs(
        &self,
        filter: &Filter,
        more: &str,
        more_params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Run>, ResultsError> {
        let mut stmt = self.conn.prepare_cached(&format!("{RUNS}{more}"))?;
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![
            &filter.scenario,
            &filter.family,
            &filter.generation,
            &filter.firmware,
            &filter.station,
            &filter.rig,
            &filter.fixture,
            &filter.limits,
            &filter.since_us,
            &filter.until_us,
            &filter.serial,
        ];
        all.extend_from_slice(more_params);
        let mut rows = stmt.query(all.as_slice())?;
        let mut list = Vec::new();
        let mut columns = RunColumns::default();
        while let Some(row) = rows.next()? {
            let run = self.run(row, &mut columns)?;
            // GLOB also knows `[...]` classes; the filter's own rule is the one that counts.
            if filter.matches(&run) {
                list.push(run);
            }
        }
        Ok(list)
    }

    fn scan_readings(
        &self,
        runs: &Runs,
        name: Option<&str>,
        lean: bool,
        each: &mut dyn FnMut(&Reading<'_>),
    ) -> Result<(), ResultsError> {
        let columns = if lean { VALUE_COLUMNS } else { READING_COLUMNS };
        let mut names = NameCache::default();
        if keyed_read(&self.conn, runs)? {
            let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {columns} FROM measurements \
                 WHERE run_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY seq"
            ))?;
            for id in ids {
                let mut rows = stmt.query(params![id, name])?;
                self.reading_rows(&mut rows, runs, &mut names, lean, each)?;
            }
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {columns} FROM measurements \
             WHERE ?1 IS NULL OR name = ?1 ORDER BY run_id, seq"
        ))?;
        let mut rows = stmt.query(params![name])?;
        self.reading_rows(&mut rows, runs, &mut names, lean, each)
    }
}

impl Source for SqliteSource {
    fn value_sums(
        &self,
        runs: &Runs,
        name: Option<&str>,
        set_of: &[u32],
    ) -> Result<Vec<GroupSums>, ResultsError> {
        if let Some(sums) = self.value_sums_by_scan(runs, name, set_of)? {
            return Ok(sums);
        }
        crate::source::fold_value_sums(self, runs, name, set_of)
    }

    fn for_each_reading(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Reading<'_>),
    ) -> Result<(), ResultsError> {
        self.scan_readings(runs, name, false, each)
    }

    fn for_each_value(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Reading<'_>),
    ) -> Result<(), ResultsError> {
        self.scan_readings(runs, name, true, each)
    }

    fn runs(&self, filter: &Filter) -> Result<Runs, ResultsError> {
        let mut list = self.select_runs(filter, "", &[])?;
        // Sorted here rather than by SQLite, whose sorter would carry every column of a
        // million rows; ids follow start order almost everywhere, so this is nearly free.
        list.sort_by_key(|r| (r.started_at_us, r.id));
        Ok(Runs::new(list))
    }

    fn summary(&self, filter: &Filter) -> Result<Option<Summary>, ResultsError> {
        self.cached_summary(filter)
    }

    fn for_each_measurement(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Measurement),
    ) -> Result<(), ResultsError> {
        if keyed_read(&self.conn, runs)? {
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
