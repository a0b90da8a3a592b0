//! Where rows come from. Every view is computed from [`Source`]'s four queries, so a store that
//! answers them (a station's SQLite file today, the central PostgreSQL store later) gets every
//! view, plot and export without a line of view code of its own.

use crate::error::ResultsError;
use crate::filter::Filter;
use crate::rows::{Artifact, Measurement, Runs, Step};

/// A store the views can read.
pub trait Source {
    /// The runs `filter` selects, in start order (`started_at_us`, then id).
    fn runs(&self, filter: &Filter) -> Result<Runs, ResultsError>;

    /// Calls `each` with every measurement of `runs` (those named `name`, when given), in
    /// recording order: by run id, then position in the run. Streaming, because a large store
    /// holds more measurements than fit in memory comfortably.
    fn for_each_measurement(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Measurement),
    ) -> Result<(), ResultsError>;

    /// The steps of `runs`, by run id then index.
    fn steps(&self, runs: &Runs) -> Result<Vec<Step>, ResultsError>;

    /// The artifacts linked to `runs`, by run id then link order.
    fn artifacts(&self, runs: &Runs) -> Result<Vec<Artifact>, ResultsError>;

    /// Every measurement of `runs`, collected; for views over a few runs.
    fn measurements(
        &self,
        runs: &Runs,
        name: Option<&str>,
    ) -> Result<Vec<Measurement>, ResultsError> {
        let mut all = Vec::new();
        self.for_each_measurement(runs, name, &mut |m| all.push(m.clone()))?;
        Ok(all)
    }
}
