//! A unit's history: every attempt at every station, with its steps, measurements and
//! transcripts; what customer support reads when a unit comes back.

use serde::Serialize;

use crate::error::ResultsError;
use crate::filter::Filter;
use crate::rows::{Artifact, Measurement, Run, Runs, Step};
use crate::source::Source;

/// One attempt, whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// The run.
    pub run: Run,
    /// Its steps, by index.
    pub steps: Vec<Step>,
    /// Its measurements, in recording order.
    pub measurements: Vec<Measurement>,
    /// Transcripts and other artifacts (content stays in the store: `rigor` reads it by hash).
    pub artifacts: Vec<Artifact>,
}

/// Every attempt of the unit `serial`, in start order. Other filters still apply (a scenario,
/// a date range).
pub fn unit_history(
    source: &dyn Source,
    serial: &str,
    filter: &Filter,
) -> Result<Vec<Attempt>, ResultsError> {
    let filter = Filter {
        // A serial with `*` in it is matched literally only if escaped; serials do not have one.
        serial: Some(serial.to_owned()),
        ..filter.clone()
    };
    let runs = source.runs(&filter)?;
    if runs.is_empty() {
        return Err(ResultsError::UnknownUnit(serial.to_owned()));
    }
    let steps = source.steps(&runs)?;
    let measurements = source.measurements(&runs, None)?;
    let artifacts = source.artifacts(&runs)?;
    Ok(runs
        .iter()
        .map(|run| Attempt {
            run: run.clone(),
            steps: steps
                .iter()
                .filter(|s| s.run_id == run.id)
                .cloned()
                .collect(),
            measurements: measurements
                .iter()
                .filter(|m| m.run_id == run.id)
                .cloned()
                .collect(),
            artifacts: artifacts
                .iter()
                .filter(|a| a.run_id == run.id)
                .cloned()
                .collect(),
        })
        .collect())
}

/// The runs of `history`, for views that take [`Runs`].
pub fn runs_of(history: &[Attempt]) -> Runs {
    Runs::new(history.iter().map(|a| a.run.clone()).collect())
}
