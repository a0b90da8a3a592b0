//! Why a station could not prepare or finish a run. Each error says whose problem it is
//! ([`ErrorKind`]), so a front end maps it to its own signal (the CLI's exit codes, the station
//! screen's "call the technician") without reading messages.

use std::path::PathBuf;

use rigor_model::Diagnostics;

use crate::lease::LockError;
use crate::open::OpenError;

/// Whose problem an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// What the caller asked does not make sense (a slot named twice, an ambiguous serial).
    Usage,
    /// A rigor file is invalid, a name is unknown, or a scenario does not bind.
    InvalidInput,
    /// The rig failed: a port, an instrument, a probe, the simulator.
    Infrastructure,
    /// The store cannot be opened or written: the footprint cannot be kept.
    Store,
}

/// Why a station could not prepare or finish a run.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// The rigor files did not load.
    #[error("the rigor files are invalid:\n{0}")]
    Load(Diagnostics),
    /// A name the request uses is not in the catalog (or not in the rig).
    #[error("no {what} `{name}`; {what}s: {known}")]
    Unknown {
        /// What kind of thing (`rig`, `scenario`, `slot`, `device profile`).
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The names there are, comma-separated.
        known: String,
    },
    /// No profile and fixture could be chosen for a slot.
    #[error("slot `{slot}`: {why}")]
    NoFixture {
        /// The slot.
        slot: String,
        /// Why, and what to do.
        why: String,
    },
    /// The scenario does not apply to the generation in a slot.
    #[error("scenario `{scenario}` does not run on {profile}: {reason}")]
    DoesNotApply {
        /// The scenario.
        scenario: String,
        /// The profile.
        profile: String,
        /// Why (a missing capability, another family).
        reason: String,
    },
    /// The scenario does not bind to a slot.
    #[error("scenario `{scenario}` does not bind to slot `{slot}`:\n{diagnostics}")]
    Bind {
        /// The scenario.
        scenario: String,
        /// The slot.
        slot: String,
        /// Where and why, with file, line and column.
        diagnostics: Diagnostics,
    },
    /// A multi-device scenario's roles do not all find slots on the rig.
    #[error(transparent)]
    Placement(#[from] rigor_plan::placement::PlacementError),
    /// A multi-device run was asked of a scenario without roles, or the other way round.
    #[error("scenario `{scenario}` {why}")]
    NotMulti {
        /// The scenario.
        scenario: String,
        /// What is wrong, and what to do.
        why: &'static str,
    },
    /// The request names a slot that does not run, or names one twice.
    #[error("{0}")]
    Request(#[from] RequestError),
    /// The virtual bench did not start.
    #[error("the virtual bench did not start")]
    Bench(#[source] Box<rigor_bench::BenchError>),
    /// A slot's backend could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The store could not be opened; its error names the file and SQLite's or the OS's reason.
    #[error("the store cannot keep this station's records")]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<rigor_store::StoreError>,
    },
    /// A slot is in use, or its lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A rig lease shared across hosts could not be had.
    #[error("rig lease")]
    Lease(#[source] rigor_lease::LeaseError),
}

/// A request that does not make sense as given.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// An option names a slot that this run does not use.
    #[error("{option} names slot `{slot}`, which this run does not use (slots: {running})")]
    SlotNotRun {
        /// The option (`--unit`, `--fault`).
        option: &'static str,
        /// The slot named.
        slot: String,
        /// The slots that run.
        running: String,
    },
    /// An option's value is not of the form it takes.
    #[error("`{option} {given}`: write {expected}")]
    BadValue {
        /// The option.
        option: &'static str,
        /// What was given.
        given: String,
        /// What it takes.
        expected: String,
    },
    /// A serial number given for a slot is not one.
    #[error("slot `{slot}`: {source}")]
    BadSerial {
        /// The slot.
        slot: String,
        /// What is wrong with it.
        #[source]
        source: rigor_model::serial::SerialError,
    },
    /// The unit in a slot cannot say its serial number, and none was given.
    #[error("slot `{slot}`: {why}; give it with `--unit {slot}=SERIAL`")]
    SerialNeeded {
        /// The slot.
        slot: String,
        /// Why the unit cannot tell it.
        why: &'static str,
    },
    /// A bench option on a rig without a virtual bench.
    #[error("{option} builds simulated units; rig `{rig}` has no virtual bench")]
    NotSimulated {
        /// The option.
        option: &'static str,
        /// The rig.
        rig: String,
    },
}

impl StationError {
    /// Whose problem this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StationError::Load(_)
            | StationError::Unknown { .. }
            | StationError::NoFixture { .. }
            | StationError::DoesNotApply { .. }
            | StationError::Placement(_)
            | StationError::NotMulti { .. }
            | StationError::Bind { .. } => ErrorKind::InvalidInput,
            StationError::Request(_) => ErrorKind::Usage,
            StationError::Bench(_)
            | StationError::Open(_)
            | StationError::Lock(_)
            | StationError::Lease(_) => ErrorKind::Infrastructure,
            StationError::Store { .. } => ErrorKind::Store,
        }
    }
}

/// `names` joined for a message.
pub(crate) fn known<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error and its sources, `a: b: c` (one rule for every front end and the store's spill).
pub use rigor_store::chain;
