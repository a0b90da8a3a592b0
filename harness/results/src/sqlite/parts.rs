//! Scans of a large selection in parts, one per core, each on a connection of its own: SQLite
//! steps through the rows of one statement on one thread, and stepping through twenty million
//! readings is most of a capability view's time.

use std::ops::Range;
use std::sync::Arc;

use rusqlite::{Connection, params};

use super::{NameCache, SqliteSource, connect, keyed_read};
use crate::error::ResultsError;
use crate::rows::Runs;
use crate::source::Reading;
use crate::sums::{GroupSums, SumsBuilder, merge_parts};

/// Below this many selected runs one scan takes well under a second, and opening a connection
/// per part would cost more than it saves.
const PARALLEL_MIN_RUNS: usize = 50_000;

/// At most this many parts: beyond it the file's pages, not the cores, are the limit.
const MAX_PARTS: usize = 8;

/// Only what the sums fold, and only numeric readings: every column read is paid for twenty
/// million times. The table is clustered by `(run_id, seq)`, so a range of run ids is a range
/// of pages, already in recording order.
const PART: &str = "SELECT run_id, name, value, outcome = 'fail' FROM measurements \
     WHERE run_id >= ?1 AND run_id < ?2 AND value IS NOT NULL AND (?3 IS NULL OR name = ?3) \
     ORDER BY run_id, seq";

impl SqliteSource {
    /// How many parts a scan of `runs` is split into: the parts this source was told to use,
    /// else one per core for a large selection and one for a small one.
    fn parts_for(&self, runs: &Runs) -> usize {
        match self.scan_parts {
            Some(parts) => parts.max(1),
            None if runs.len() < PARALLEL_MIN_RUNS => 1,
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_PARTS),
        }
    }

    /// [`crate::Source::value_sums`] over the whole file's measurements, in parts.
    pub(super) fn value_sums_by_scan(
        &self,
        runs: &Runs,
        name: Option<&str>,
        set_of: &[u32],
    ) -> Result<Option<Vec<GroupSums>>, ResultsError> {
        if keyed_read(&self.conn, runs)? {
            return Ok(None);
        }
        let ranges = id_ranges(runs, self.parts_for(runs));
        if let [all] = ranges.as_slice() {
            return part_sums(&self.conn, runs, name, set_of, all.clone()).map(Some);
        }
        let path = self.path.as_path();
        let parts = std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .into_iter()
                .map(|range| {
                    scope.spawn(move || {
                        let conn = connect(path).map_err(|source| ResultsError::Open {
                            path: path.to_owned(),
                            source,
                        })?;
                        part_sums(&conn, runs, name, set_of, range)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(Some(merge_parts(parts)))
    }
}

/// `parts` consecutive ranges of run ids of about equal span, covering every id of `runs`.
fn id_ranges(runs: &Runs, parts: usize) -> Vec<Range<i64>> {
    let (Some(first), Some(last)) = (
        runs.iter().map(|r| r.id).min(),
        runs.iter().map(|r| r.id).max(),
    ) else {
        return Vec::new();
    };
    let span = (last - first + 1) as u128;
    let parts = parts.max(1) as u128;
    (0..parts)
        .map(|k| {
            let at = |k: u128| first + (span * k / parts) as i64;
            at(k)..at(k + 1)
        })
        .filter(|r| !r.is_empty())
        .collect()
}

fn part_sums(
    conn: &Connection,
    runs: &Runs,
    name: Option<&str>,
    set_of: &[u32],
    range: Range<i64>,
) -> Result<Vec<GroupSums>, ResultsError> {
    let mut stmt = conn.prepare_cached(PART)?;
    let mut rows = stmt.query(params![range.start, range.end, name])?;
    let mut names = NameCache::default();
    let mut sums = SumsBuilder::new(set_of);
    let unnamed: Arc<str> = Arc::from("");
    while let Some(row) = rows.next()? {
        let run_id: i64 = row.get(0)?;
        let Some(run_position) = runs.position(run_id) else {
            continue;
        };
        let Some(name_index) = names.index(row.get_ref(1)?.as_bytes()?) else {
            continue;
        };
        sums.push(&Reading {
            run_id,
            run_position,
            seq: 0,
            name: names
                .names
                .get(name_index as usize)
                .map_or(&unnamed, |n| &n.1),
            name_index,
            value: row.get_ref(2)?.as_f64()?,
            unit: None,
            low: None,
            high: None,
            marginal_low: None,
            marginal_high: None,
            failed: row.get(3)?,
            measured_at_us: 0,
        });
    }
    Ok(sums.finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test fails loudly on purpose

    use super::*;
    use crate::synth::{SynthConfig, synth};
    use crate::{Filter, Source, capability};

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
            (a, b) => a == b,
        }
    }

    #[test]
    fn parts_merge_to_one_scans_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synth.db");
        let config = SynthConfig {
            units: 600,
            measurements: 3,
            seed: 11,
            ..SynthConfig::default()
        };
        synth(&path, &config).unwrap();
        let one = SqliteSource::open(&path).unwrap().with_scan_parts(1);
        let runs = one.runs(&Filter::default()).unwrap();
        let whole = capability(&one, &runs, None).unwrap();
        // 600 units over three firmware versions: every group is cut by some seam.
        for parts in [2, 3, 7] {
            let split = SqliteSource::open(&path).unwrap().with_scan_parts(parts);
            let rows = capability(&split, &runs, None).unwrap();
            assert_eq!(rows.len(), whole.len());
            for (a, b) in rows.iter().zip(&whole) {
                assert_eq!(
                    (&a.measurement, &a.generation, &a.firmware, a.n),
                    (&b.measurement, &b.generation, &b.firmware, b.n)
                );
                assert_eq!((a.lsl, a.usl, &a.unit), (b.lsl, b.usl, &b.unit));
                assert_eq!(a.observed_outside, b.observed_outside);
                for (x, y) in [
                    (a.mean, b.mean),
                    (a.sigma_overall, b.sigma_overall),
                    (a.sigma_within, b.sigma_within),
                    (a.cpk, b.cpk),
                    (a.ppk, b.ppk),
                ] {
                    assert!(close(x, y), "{parts} parts: {a:?} vs {b:?}");
                }
            }
        }
        // And the one scan equals the trait's default fold over the full readings.
        let set_of = vec![0; runs.len()];
        let lean = one.value_sums(&runs, Some("m01"), &set_of).unwrap();
        let mut full = SumsBuilder::new(&set_of);
        one.for_each_reading(&runs, Some("m01"), &mut |r| full.push(r))
            .unwrap();
        let full = full.finish();
        assert_eq!(lean.len(), 1);
        assert_eq!(lean[0].acc.n, full[0].acc.n);
        assert_eq!(
            lean[0].acc.mean_moving_range(),
            full[0].acc.mean_moving_range()
        );
        assert_eq!(lean[0].first_run, full[0].first_run);
    }
}
