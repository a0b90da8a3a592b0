//! The central store as a source for the analysts' views (`rigor results … --store
//! postgres://…`): the same four queries a station's SQLite file answers, so every view, plot and
//! export works on every station's records at once without a line of view code of its own.
//!
//! Attempts are the central store's: numbered per unit × scenario across stations by start time
//! (the `run_history` view), not each station's own count. Runs get small ids in start order for
//! this one reading; their UUIDs stay behind them for the rows each view asks for next.
//! Two stations that share a name are told apart by the start of their id, `sim-1@0193f2c4`.

use std::cell::RefCell;
use std::collections::HashMap;

use rigor_results::{
    Artifact, Filter, Interner, Measurement, ResultsError, Run, Runs, Source, Step,
};
use rigor_store::{FailureClass, MeasurementOutcome, RunStatus, StepOutcome};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::connect::CentralConfig;
use crate::error::CentralError;

/// How many runs' rows one query asks for: few round trips, bounded memory.
const RUNS_PER_QUERY: usize = 2_000;

// Two stations may carry one name (two benches both called after the rig's default): the name
// then gets the start of the station's id, so no view merges them.
const RUNS: &str = "WITH shared_names AS (SELECT station FROM runs GROUP BY station \
     HAVING count(DISTINCT station_id) > 1) \
     SELECT h.run_uuid, h.unit_serial, h.family, h.generation, h.scenario_name, \
     h.scenario_version, h.attempt, \
     CASE WHEN s.station IS NULL THEN h.station \
          ELSE h.station || '@' || left(h.station_id::text, 8) END, h.rig, h.slot, r.fixture_id, h.operator, \
     coalesce(r.firmware_version, left(r.firmware_sha256, 12)), r.limits_sha256, \
     h.started_at_us, h.ended_at_us, h.outcome, h.failure_class, h.message \
     FROM run_history AS h JOIN runs AS r ON r.run_uuid = h.run_uuid \
     LEFT JOIN shared_names AS s ON s.station = h.station \
     WHERE ($1::text IS NULL OR h.scenario_name = $1) AND ($2::text IS NULL OR h.family = $2) \
       AND ($3::text IS NULL OR h.generation = $3) \
       AND ($4::text IS NULL OR coalesce(r.firmware_version, left(r.firmware_sha256, 12)) = $4) \
       AND ($5::text IS NULL OR h.station = $5 OR $5 LIKE h.station || '@%') AND ($6::text IS NULL OR h.rig = $6) \
       AND ($7::text IS NULL OR r.fixture_id = $7) \
       AND ($8::text IS NULL OR starts_with(r.limits_sha256, $8)) \
       AND ($9::bigint IS NULL OR h.started_at_us >= $9) \
       AND ($10::bigint IS NULL OR h.started_at_us < $10) \
       AND ($11::text IS NULL OR h.unit_serial LIKE $11) \
     ORDER BY h.started_at_us, h.run_uuid";

/// The central store, read for analysts. Queries run on a runtime of its own, so the views
/// stay synchronous; do not use it from inside another tokio runtime.
pub struct CentralSource {
    runtime: tokio::runtime::Runtime,
    client: Client,
    target: String,
    /// Run id (as handed out in [`Run::id`]) → the run's UUID.
    uuids: RefCell<HashMap<i64, Uuid>>,
    interner: RefCell<Interner>,
}

impl CentralSource {
    /// Connects to the central store at `config` (an analyst's login needs only `SELECT`).
    pub fn connect(config: &CentralConfig) -> Result<Self, CentralError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CentralError::Runtime)?;
        let client = runtime.block_on(async {
            let client = config.connect().await?;
            crate::check_version(&client, config.target()).await?;
            Ok::<_, CentralError>(client)
        })?;
        Ok(CentralSource {
            runtime,
            client,
            target: config.target().to_owned(),
            uuids: RefCell::default(),
            interner: RefCell::default(),
        })
    }

    fn failed(&self, action: &'static str) -> impl Fn(tokio_postgres::Error) -> ResultsError {
        let store = self.target.clone();
        move |source| ResultsError::Foreign {
            store: store.clone(),
            source: Box::new(CentralError::Postgres { action, source }),
        }
    }

    fn undecodable(&self, what: &'static str, text: &str) -> ResultsError {
        ResultsError::Foreign {
            store: self.target.clone(),
            source: Box::new(CentralError::Undecodable {
                what,
                text: text.to_owned(),
            }),
        }
    }

    /// Runs `query` for `runs` in chunks (`$1` is the chunk's UUIDs, `$2`… are `more`), handing each chunk's rows
    /// to `each` in run order: by the ids the views know, then as `order` sorts within a run.
    fn per_run_rows(
        &self,
        runs: &Runs,
        query: &str,
        more: &[&(dyn ToSql + Sync)],
        action: &'static str,
        order: impl Fn(&Row) -> i64,
        each: &mut dyn FnMut(i64, &Row) -> Result<(), ResultsError>,
    ) -> Result<(), ResultsError> {
        let uuids = self.uuids.borrow();
        let mut ids: Vec<(i64, Uuid)> = runs
            .iter()
            .filter_map(|r| uuids.get(&r.id).map(|u| (r.id, *u)))
            .collect();
        ids.sort_unstable_by_key(|(id, _)| *id);
        let statement = self
            .runtime
            .block_on(self.client.prepare(query))
            .map_err(self.failed(action))?;
        for chunk in ids.chunks(RUNS_PER_QUERY) {
            let id_of: HashMap<Uuid, i64> = chunk.iter().map(|(id, u)| (*u, *id)).collect();
            let wanted: Vec<Uuid> = chunk.iter().map(|(_, u)| *u).collect();
            let rows = self
                .runtime
                .block_on(self.client.query(&statement, &params(&wanted, more)))
                .map_err(self.failed(action))?;
            let mut keyed: Vec<(i64, i64, &Row)> = rows
                .iter()
                .filter_map(|row| {
                    let id = *id_of.get(&row.get::<_, Uuid>(0))?;
                    Some((id, order(row), row))
                })
                .collect();
            keyed.sort_unstable_by_key(|(id, within, _)| (*id, *within));
            for (id, _, row) in keyed {
                each(id, row)?;
            }
        }
        Ok(())
    }
}

/// A `*`/`?` serial pattern as a `LIKE` pattern (`\\` escapes), so PostgreSQL's index on
/// serials narrows the runs before the filter's own rule decides.
fn like_pattern(glob: &str) -> String {
    glob.chars()
        .fold(String::with_capacity(glob.len()), |mut like, c| {
            match c {
                '*' => like.push('%'),
                '?' => like.push('_'),
                '%' | '_' | '\\' => {
                    like.push('\\');
                    like.push(c);
                }
                c => like.push(c),
            }
            like
        })
}

fn params<'a>(
    wanted: &'a Vec<Uuid>,
    more: &[&'a (dyn ToSql + Sync)],
) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut all: Vec<&(dyn ToSql + Sync)> = vec![wanted];
    all.extend_from_slice(more);
    all
}

fn count(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl Source for CentralSource {
    fn runs(&self, filter: &Filter) -> Result<Runs, ResultsError> {
        let rows = self
            .runtime
            .block_on(self.client.query(
                RUNS,
                &[
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
                    &filter.serial.as_deref().map(like_pattern),
                ],
            ))
            .map_err(self.failed("read runs"))?;
        let mut uuids = self.uuids.borrow_mut();
        let mut interner = self.interner.borrow_mut();
        uuids.clear();
        let mut list = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut s = |i: usize| interner.get(row.get::<_, &str>(i));
            let (family, generation, scenario, scenario_version) = (s(2), s(3), s(4), s(5));
            let (station, rig, slot, operator, limits_sha256) = (s(7), s(8), s(9), s(11), s(13));
            let fixture = row.get::<_, Option<&str>>(10).map(|t| interner.get(t));
            let firmware = row.get::<_, Option<&str>>(12).map(|t| interner.get(t));
            let outcome: &str = row.get(16);
            let status = RunStatus::parse(outcome)
                .ok_or_else(|| self.undecodable("run outcome", outcome))?;
            let failure_class = match row.get::<_, Option<&str>>(17) {
                Some(c) => Some(
                    FailureClass::parse(c).ok_or_else(|| self.undecodable("failure class", c))?,
                ),
                None => None,
            };
            let run = Run {
                id: list.len() as i64 + 1,
                serial: row.get(1),
                family,
                generation,
                scenario,
                scenario_version,
                attempt: count(row.get(6)),
                station,
                rig,
                slot,
                fixture,
                operator,
                firmware,
                limits_sha256,
                started_at_us: row.get(14),
                ended_at_us: row.get(15),
                status,
                failure_class,
                message: row.get(18),
            };
            // The serial pattern is the filter's own rule, the same as for a station's file.
            if filter.matches(&run) {
                uuids.insert(run.id, row.get(0));
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
        let mut interner = self.interner.borrow_mut();
        self.per_run_rows(
            runs,
            "SELECT run_uuid, seq, step_index, name, value, text_value, unit, comparator, low, \
             low_inclusive, high, high_inclusive, marginal_low, marginal_high, marginal, outcome, \
             measured_at_us FROM measurements \
             WHERE run_uuid = ANY($1) AND ($2::text IS NULL OR name = $2)",
            &[&name],
            "read measurements",
            |row| row.get(1),
            &mut |run_id, row| {
                let outcome: &str = row.get(15);
                let outcome = MeasurementOutcome::parse(outcome)
                    .ok_or_else(|| self.undecodable("measurement outcome", outcome))?;
                each(&Measurement {
                    run_id,
                    seq: count(row.get(1)),
                    step_index: count(row.get(2)),
                    name: interner.get(row.get(3)),
                    value: row.get(4),
                    text_value: row.get(5),
                    unit: row.get::<_, Option<&str>>(6).map(|u| interner.get(u)),
                    comparator: interner.get(row.get(7)),
                    low: row.get(8),
                    low_inclusive: row.get(9),
                    high: row.get(10),
                    high_inclusive: row.get(11),
                    marginal_low: row.get(12),
                    marginal_high: row.get(13),
                    marginal: row.get(14),
                    outcome,
                    measured_at_us: row.get(16),
                });
                Ok(())
            },
        )
    }

    fn steps(&self, runs: &Runs) -> Result<Vec<Step>, ResultsError> {
        let mut out = Vec::new();
        let mut interner = self.interner.borrow_mut();
        self.per_run_rows(
            runs,
            "SELECT run_uuid, step_index, step_id, kind, attempt, started_at_us, ended_at_us, \
             outcome, message FROM steps WHERE run_uuid = ANY($1)",
            &[],
            "read steps",
            |row| row.get(1),
            &mut |run_id, row| {
                let outcome: &str = row.get(7);
                out.push(Step {
                    run_id,
                    index: count(row.get(1)),
                    step_id: interner.get(row.get(2)),
                    kind: interner.get(row.get(3)),
                    attempt: count(row.get(4)),
                    started_at_us: row.get(5),
                    ended_at_us: row.get(6),
                    outcome: StepOutcome::parse(outcome)
                        .ok_or_else(|| self.undecodable("step outcome", outcome))?,
                    message: row.get(8),
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn artifacts(&self, runs: &Runs) -> Result<Vec<Artifact>, ResultsError> {
        let mut out = Vec::new();
        self.per_run_rows(
            runs,
            "SELECT a.run_uuid, a.link_id, a.step_index, a.name, a.media_type, a.sha256, b.size \
             FROM run_artifacts AS a JOIN artifact_blobs AS b ON b.sha256 = a.sha256 \
             WHERE a.run_uuid = ANY($1)",
            &[],
            "read artifacts",
            |row| row.get(1),
            &mut |run_id, row| {
                out.push(Artifact {
                    run_id,
                    step_index: row.get::<_, Option<i64>>(2).map(count),
                    name: row.get(3),
                    media_type: row.get(4),
                    sha256: row.get(5),
                    size: row.get(6),
                });
                Ok(())
            },
        )?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serial_globs_become_like_patterns_with_literals_escaped() {
        assert_eq!(super::like_pattern("FC3-00*"), "FC3-00%");
        assert_eq!(super::like_pattern("FC?_1%"), "FC_\\_1\\%");
        assert_eq!(super::like_pattern("a\\b"), "a\\\\b");
    }
}
