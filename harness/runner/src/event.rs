//! What the engine says while it runs. Every output (terminal progress, JSON lines, JUnit) is a
//! subscriber; the engine knows none of them. Recording is a seam of its own (`Recorder`): the
//! store assigns attempt numbers and must hold each step durably before the run goes on.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::measurement::Judged;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Every step passed.
    Pass,
    /// The device failed a step (a measurement out of limits, an expectation not met).
    Fail,
    /// The run could not complete (rig, scenario or device broke).
    Error,
    /// Interrupted; teardown ran.
    Aborted,
}

/// Whose fault a failure or error is: decides whether a retry makes sense and who gets paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// The rig: a port vanished, an instrument did not answer, a transport timed out.
    Infrastructure,
    /// The device under test.
    Device,
    /// The scenario (a capture that is not a number, an operator declining).
    Scenario,
}

impl FailureClass {
    /// The class's name, as stored and printed (`infrastructure`).
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Infrastructure => "infrastructure",
            FailureClass::Device => "device",
            FailureClass::Scenario => "scenario",
        }
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl RunOutcome {
    /// The outcome's name, as stored (`pass`); [`std::fmt::Display`] gives it as people read it
    /// in a summary (`PASS`).
    pub fn name(self) -> &'static str {
        match self {
            RunOutcome::Pass => "pass",
            RunOutcome::Fail => "fail",
            RunOutcome::Error => "error",
            RunOutcome::Aborted => "aborted",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name().to_uppercase())
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum StepOutcome {
    /// Done as specified.
    Pass,
    /// The device did not do what the step expects.
    Fail {
        /// Why, for people: the value against its limits, or what was awaited.
        message: String,
    },
    /// The step could not be carried out.
    Error {
        /// Whose fault.
        class: FailureClass,
        /// Why.
        message: String,
    },
    /// Not run (an earlier step stopped the run).
    Skipped,
}

impl StepOutcome {
    /// The outcome's name, as stored.
    pub fn name(&self) -> &'static str {
        match self {
            StepOutcome::Pass => "pass",
            StepOutcome::Fail { .. } => "fail",
            StepOutcome::Error { .. } => "error",
            StepOutcome::Skipped => "skipped",
        }
    }
}

/// Who and what a run is about; stored with the run and carried by every report.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The unit's serial number.
    pub unit: String,
    /// Attempt number of this unit at this scenario (1 for the first), assigned by the recorder.
    pub attempt: u32,
    /// Family, generation and profile id.
    pub family: String,
    /// Generation.
    pub generation: String,
    /// Profile id.
    pub profile: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario version.
    pub scenario_version: u32,
    /// SHA-256 of the scenario and its fragments.
    pub scenario_hash: String,
    /// SHA-256 over the limits.
    pub limit_set_hash: String,
    /// Station id.
    pub station: Option<String>,
    /// Rig id.
    pub rig: String,
    /// Slot name.
    pub slot: String,
    /// Fixture id.
    pub fixture: String,
    /// Operator id.
    pub operator: Option<String>,
    /// The version the flashed image's manifest declares.
    pub firmware_version: Option<String>,
    /// SHA-256 of the image the run flashes first.
    pub firmware_sha256: Option<String>,
    /// When it started.
    #[serde(with = "unix_millis")]
    pub started_at: SystemTime,
    /// In a multi-device scenario: the session's id, shared by the records of all its units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// In a multi-device scenario: the unit's role and number (`sensor[1]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Something that happened in a run. Events of one run arrive in order; runs on different slots interleave.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    /// A run began.
    RunStarted {
        /// Who and what.
        run: Arc<RunInfo>,
    },
    /// A step began.
    StepStarted {
        /// The run's slot.
        slot: String,
        /// Position of the step in its run (setup, steps, teardown, retry groups flattened).
        index: u32,
        /// The step's label.
        label: String,
        /// The step's kind (`console.expect`, ...).
        kind: &'static str,
        /// 1 unless the step is being retried.
        attempt: u32,
    },
    /// A measurement was judged.
    Measured {
        /// The run's slot.
        slot: String,
        /// The step that took it.
        index: u32,
        /// The value against its limits.
        judged: Judged,
    },
    /// A step ended.
    StepFinished {
        /// The run's slot.
        slot: String,
        /// Position of the step.
        index: u32,
        /// The step's label.
        label: String,
        /// The step's kind.
        kind: &'static str,
        /// 1 unless the step was retried.
        attempt: u32,
        /// How it ended.
        outcome: StepOutcome,
        /// How long it took.
        #[serde(with = "millis")]
        duration: Duration,
    },
    /// A file-like result (console transcript) was kept.
    Artifact {
        /// The run's slot.
        slot: String,
        /// The step it belongs to, if any.
        index: Option<u32>,
        /// Its name (`console.log`).
        name: String,
        /// Its media type.
        media_type: String,
        /// The content.
        #[serde(skip)]
        content: Arc<[u8]>,
    },
    /// A run ended; teardown is done.
    RunFinished {
        /// Who and what.
        run: Arc<RunInfo>,
        /// How it ended.
        outcome: RunOutcome,
        /// Whose fault, unless it passed.
        class: Option<FailureClass>,
        /// The first failure, for people.
        message: Option<String>,
        /// How long it took.
        #[serde(with = "millis")]
        duration: Duration,
    },
}

impl Event {
    /// The slot of the run the event belongs to.
    pub fn slot(&self) -> &str {
        match self {
            Event::RunStarted { run } | Event::RunFinished { run, .. } => &run.slot,
            Event::StepStarted { slot, .. }
            | Event::Measured { slot, .. }
            | Event::StepFinished { slot, .. }
            | Event::Artifact { slot, .. } => slot,
        }
    }
}

/// Something that wants to hear about runs: terminal progress, JSON lines, JUnit.
pub trait Subscriber: Send {
    /// Takes one event. A subscriber never stops a run; it reports its own trouble at `finish`.
    fn on_event(&mut self, event: &Event);
    /// All runs are over: write files, flush output.
    fn finish(&mut self) -> Result<(), SubscriberError> {
        Ok(())
    }
}

/// A subscriber could not write its output.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SubscriberError {
    /// What it was writing.
    pub what: String,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

mod unix_millis {
    use std::time::{SystemTime, UNIX_EPOCH};
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        s.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}
