//! Where rows come from. Every view is computed from [`Source`]'s four queries, so a store that
//! answers them (a station's SQLite file today, the central PostgreSQL store later) gets every
//! view, plot and export without a line of view code of its own.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ResultsError;
use crate::filter::Filter;
use crate::rows::{Artifact, Measurement, Runs, Step};
use crate::summary::Summary;
use crate::sums::{GroupSums, SumsBuilder};

/// A numeric reading, lean: what capability and control charts need from each of millions of
/// rows, without the text a [`Measurement`] carries.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// Run id.
    pub run_id: i64,
    /// The run's position in the [`Runs`] the reading was asked for.
    pub run_position: usize,
    /// Position in the run.
    pub seq: u32,
    /// Measurement name.
    pub name: &'a Arc<str>,
    /// A small number standing for `name`, the same for the same name throughout one call,
    /// counting from 0 in order of first appearance: views index arrays with it.
    pub name_index: u32,
    /// The value.
    pub value: f64,
    /// Unit symbol.
    pub unit: Option<&'a Arc<str>>,
    /// Low limit.
    pub low: Option<f64>,
    /// High limit.
    pub high: Option<f64>,
    /// Low edge of the marginal band.
    pub marginal_low: Option<f64>,
    /// High edge of the marginal band.
    pub marginal_high: Option<f64>,
    /// Recorded verdict was fail.
    pub failed: bool,
    /// When taken, µs.
    pub measured_at_us: i64,
}

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

    /// Calls `each` with every numeric reading of `runs` (those named `name`, when given), in
    /// the order of [`Source::for_each_measurement`]. Sources override it with a leaner query;
    /// this default goes through the full rows.
    fn for_each_reading(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Reading<'_>),
    ) -> Result<(), ResultsError> {
        let mut names: HashMap<Arc<str>, u32> = HashMap::new();
        self.for_each_measurement(runs, name, &mut |m| {
            let (Some(value), Some(run_position)) = (m.value, runs.position(m.run_id)) else {
                return;
            };
            let next = names.len() as u32;
            let name_index = *names.entry(m.name.clone()).or_insert(next);
            each(&Reading {
                run_id: m.run_id,
                run_position,
                seq: m.seq,
                name: &m.name,
                name_index,
                value,
                unit: m.unit.as_ref(),
                low: m.low,
                high: m.high,
                marginal_low: m.marginal_low,
                marginal_high: m.marginal_high,
                failed: m.outcome == rigor_store::MeasurementOutcome::Fail,
                measured_at_us: m.measured_at_us,
            });
        })
    }

    /// Like [`Source::for_each_reading`], but only `run_id`, `run_position`, `seq`, `name`,
    /// `name_index`, `value`, `low`, `high` and `failed` need be filled (the rest may be empty):
    /// capability over millions of readings pays per column read.
    fn for_each_value(
        &self,
        runs: &Runs,
        name: Option<&str>,
        each: &mut dyn FnMut(&Reading<'_>),
    ) -> Result<(), ResultsError> {
        self.for_each_reading(runs, name, each)
    }

    /// Capability's sums of the numeric readings of `runs` (those named `name`, when given) per
    /// measurement × run set, where `set_of[i]` numbers the set of the run at position `i` of
    /// `runs`. Sources may override it to scan in parallel or aggregate where the rows are;
    /// this default folds [`Source::for_each_value`] in one pass.
    fn value_sums(
        &self,
        runs: &Runs,
        name: Option<&str>,
        set_of: &[u32],
    ) -> Result<Vec<GroupSums>, ResultsError> {
        fold_value_sums(self, runs, name, set_of)
    }

    /// The yield and capability views' state for the runs `filter` selects, from a cache of
    /// earlier queries where the source keeps one (SQLite does, beside its file), brought up to
    /// date; `None` where it keeps none or cannot answer `filter` from it, and the views scan.
    fn summary(&self, filter: &Filter) -> Result<Option<Summary>, ResultsError> {
        let _ = filter;
        Ok(None)
    }

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

/// [`Source::value_sums`] in one pass over [`Source::for_each_value`]: the default, and the
/// fallback of sources that scan in parallel only where it pays.
pub fn fold_value_sums<S: Source + ?Sized>(
    source: &S,
    runs: &Runs,
    name: Option<&str>,
    set_of: &[u32],
) -> Result<Vec<GroupSums>, ResultsError> {
    let mut sums = SumsBuilder::new(set_of);
    source.for_each_value(runs, name, &mut |r| sums.push(r))?;
    Ok(sums.finish())
}
