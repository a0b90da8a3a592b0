//! rigor's store: every unit's factory footprint, append-only, in one SQLite file.
//!
//! Each run of a scenario on a unit (a device with a serial number) is recorded as it happens:
//! a `runs` row at its start (with the attempt number for that unit × scenario), a row per
//! finished step and per measurement, content-addressed artifacts, and finally a `run_ends` row.
//! Nothing is ever updated or deleted; the database's own triggers refuse it, whoever connects.
//! A run without an end row is *incomplete*: still running, or its process died, in which case
//! every record committed before the crash is still there.
//!
//! Several rigor processes (one per station slot) may write one file: it is in WAL mode with a
//! busy timeout, and each record call is one short immediate transaction. See [`Durability`]
//! for what a commit survives.
//!
//! A commit is most of a record's cost (tens of microseconds with the default durability), so
//! [`Store::record_step_with_measurements`] writes a finished step and its measurements in one.
//!
//! The API is synchronous. [`Store`] is `Send`: an async engine owns it on a blocking thread (or
//! calls it from `spawn_blocking`); each slot process opens its own.
//!
//! The schema, its views (`run_summary`, `unit_footprint`, `first_pass_yield`) and the
//! append-only triggers are described in the [`schema`] module.

mod artifact;
mod detail;
mod error;
mod export;
mod forward;
mod held;
mod identity;
mod input;
mod migrate;
mod query;
mod record;
pub mod schema;
mod seq;
pub mod spill;
mod station_log;
mod store;
pub mod synthetic;
mod types;

pub use artifact::{ArtifactLink, sha256_hex};
pub use detail::RunDetail;
pub use error::{StoreError, chain};
pub use export::{
    Export, ExportArtifact, ExportEnd, ExportMeasurement, ExportRun, ExportSession, ExportStep,
};
pub use forward::ForwardStatus;
pub use input::{
    FirmwareImage, FixtureUse, Limits, MeasurementRecord, RunEnd, RunStart, ScenarioRef,
    SessionUse, StepRecord, UnitIdentity,
};
pub use query::{RunSummary, YieldFilter, YieldRow};
pub use record::{Batch, RunHandle};
pub use schema::SCHEMA_VERSION;
pub use station_log::{
    FixtureWear, StationAction, StationActionKind, StationDay, StationRole, TopFailure,
};
pub use store::{Durability, OpenOptions, Store};
pub use types::{
    FailureClass, MeasurementOutcome, RunId, RunOutcome, RunStatus, StepOutcome, Timestamp,
};
