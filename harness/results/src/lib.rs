//! rigor's analyst views over a store: yield, Pareto, capability, control charts, a unit's
//! history, re-judging against revised limits, retest analysis, plots, and exports (STDF V4,
//! CSV) that readers rigor did not write accept.
//!
//! Every view is computed from the rows a [`Source`] hands over (runs, steps, measurements,
//! artifacts), so a station's SQLite file ([`SqliteSource`]) and the central PostgreSQL store
//! (a later source) share all of it. A view takes the runs a [`Filter`] selects:
//!
//! ```no_run
//! use rigor_results::{Dimension, Filter, Source, SqliteSource, yield_report};
//! # fn main() -> Result<(), rigor_results::ResultsError> {
//! let store = SqliteSource::open("rigor.db")?;
//! let runs = store.runs(&Filter { generation: Some("gen3".into()), ..Filter::default() })?;
//! let report = yield_report(&runs, Dimension::Station, &["smoke".into(), "provisioning".into()]);
//! # Ok(()) }
//! ```
//!
//! Nothing here writes to a store: the source opens it read-only, and re-judging is a what-if.

mod capability;
mod error;

mod filter;
mod pareto;

pub mod export;
pub mod plot;
mod rejudge;
pub mod render;
mod report;
mod retest;
mod rows;
mod source;
mod spc;
mod sqlite;
pub mod stats;
mod summary;
mod sums;
pub mod synth;

pub mod tables;
mod timefmt;
mod unit;
mod yields;

pub use capability::{CapabilityRow, MIN_N, capability, readings_of};
pub use error::ResultsError;
pub use filter::{Filter, glob_matches};
pub use pareto::{ParetoBy, ParetoRow, pareto};
pub use rejudge::{MeasurementChange, RejudgeReport, Revised, RevisedLimits, RunChange, rejudge};
pub use report::html_report;
pub use retest::{PassedOnRetest, RetestByPlace, RetestReport, retest};
pub use rows::{Artifact, Interner, Measurement, Run, Runs, Step};
pub use source::{Reading, Source};
pub use spc::{Rule, SpcChart, SpcPoint, Violation, spc, western_electric};
pub use sqlite::{CacheMode, SqliteSource, cache_path};
pub use summary::Summary;
pub use sums::{GroupSums, SumsBuilder, merge_parts};
pub use unit::{Attempt, runs_of, unit_history};
pub use yields::{Dimension, RtyRow, YieldReport, YieldRow, yield_report};
