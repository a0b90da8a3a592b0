//! Pareto of failures: which measurements, steps or failure classes cost the most attempts.

use std::collections::HashMap;

use rigor_store::{MeasurementOutcome, RunStatus, StepOutcome};
use serde::Serialize;

use crate::error::ResultsError;
use crate::rows::Runs;
use crate::source::Source;

/// What failures are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParetoBy {
    /// Failing measurements, by name: every failing reading counts.
    Measurement,
    /// Failing steps (outcome `fail`), by step id.
    Step,
    /// Attempts that did not pass, by failure class (`infrastructure` included, so the chart
    /// shows how much of the line's loss is not the device's).
    Class,
}

/// One bar of the Pareto chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParetoRow {
    /// Measurement name, step id or failure class.
    pub key: String,
    /// Failures.
    pub count: u64,
    /// `count` over all failures counted.
    pub share: f64,
    /// Share of this bar and every larger one.
    pub cumulative: f64,
}

/// Failures of `runs` by `by`, largest first (ties by key).
pub fn pareto(
    source: &dyn Source,
    runs: &Runs,
    by: ParetoBy,
) -> Result<Vec<ParetoRow>, ResultsError> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    match by {
        ParetoBy::Measurement => {
            let mut by_name: HashMap<std::sync::Arc<str>, u64> = HashMap::new();
            source.for_each_measurement(runs, None, &mut |m| {
                if m.outcome == MeasurementOutcome::Fail {
                    *by_name.entry(m.name.clone()).or_default() += 1;
                }
            })?;
            counts.extend(by_name.into_iter().map(|(k, v)| (k.to_string(), v)));
        }
        ParetoBy::Step => {
            for step in source.steps(runs)? {
                if step.outcome == StepOutcome::Fail {
                    *counts.entry(step.step_id.to_string()).or_default() += 1;
                }
            }
        }
        ParetoBy::Class => {
            for run in runs.iter() {
                if matches!(
                    run.status,
                    RunStatus::Fail | RunStatus::Error | RunStatus::Aborted
                ) {
                    let class = run.failure_class.map_or("unclassified", |c| c.as_str());
                    *counts.entry(class.to_owned()).or_default() += 1;
                }
            }
        }
    }
    Ok(rows(counts))
}

fn rows(counts: HashMap<String, u64>) -> Vec<ParetoRow> {
    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: u64 = sorted.iter().map(|(_, c)| c).sum();
    let mut running = 0;
    sorted
        .into_iter()
        .map(|(key, count)| {
            running += count;
            ParetoRow {
                key,
                count,
                share: count as f64 / total as f64,
                cumulative: running as f64 / total as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_largest_first_and_accumulate_to_one() {
        let counts = HashMap::from([
            ("b".to_owned(), 1),
            ("a".to_owned(), 1),
            ("c".to_owned(), 2),
        ]);
        let rows = rows(counts);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["c", "a", "b"]);
        assert_eq!(rows[0].share, 0.5);
        assert_eq!(rows[1].cumulative, 0.75);
        assert_eq!(rows[2].cumulative, 1.0);
    }
}
