//! What the runner hands the store: a run's start, its steps and measurements, and its end.
//! The same types come back out of [`Store::run_detail`](crate::Store::run_detail).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::types::{FailureClass, MeasurementOutcome, RunOutcome, StepOutcome, Timestamp};

/// The device a run tests. Its family and generation are fixed the first time the serial is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitIdentity {
    /// The serial number (`units.serial`), unique across the factory.
    pub serial: String,
    /// Product family.
    pub family: String,
    /// Hardware generation within the family.
    pub generation: String,
}

/// Which scenario a run executes, pinned by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRef {
    /// Scenario name; attempts are numbered per unit × this name.
    pub name: String,
    /// The version the scenario file declares.
    pub version: String,
    /// SHA-256 (lowercase hex) of the scenario's content, includes expanded.
    pub sha256: String,
}

/// The fixture a unit sat in, and how worn its contacts were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureUse {
    /// Fixture id.
    pub id: String,
    /// How many units this fixture has taken, this run's included: the wear of its contacts.
    /// Given when the fixture counts them itself (a PLC register); `None` when beginning a run
    /// lets the store count them: one more than the highest recorded for this fixture in this
    /// rig slot when the unit changed since its last run (several scenarios on one unit are one
    /// insertion). Read back, it is always known.
    pub insertions: Option<u32>,
}

/// The firmware image flashed or found on the unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareImage {
    /// SHA-256 (lowercase hex) of the image.
    pub sha256: String,
    /// The version the image declares, if known.
    pub version: Option<String>,
}

/// The multi-device session a run is one unit of: every unit's run carries the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUse {
    /// The session's id, shared by its units' runs.
    pub id: String,
    /// The unit's role and number in it (`sensor[1]`).
    pub role: String,
}

/// Everything known when a run starts; written as one `runs` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStart {
    /// The unit under test.
    pub unit: UnitIdentity,
    /// The scenario.
    pub scenario: ScenarioRef,
    /// Station (the host running rigor).
    pub station: String,
    /// Rig name.
    pub rig: String,
    /// Slot of the station this run occupies.
    pub slot: String,
    /// The multi-device session the run belongs to, if any (a `run_sessions` row).
    #[serde(default)]
    pub session: Option<SessionUse>,
    /// Fixture, where the rig has one.
    pub fixture: Option<FixtureUse>,
    /// Operator (a person's id, or the CI job).
    pub operator: String,
    /// Firmware, where the scenario flashes or reads one.
    pub firmware: Option<FirmwareImage>,
    /// SHA-256 (lowercase hex) of the bound limit set.
    pub limits_sha256: String,
    /// When the run started.
    pub started_at: Timestamp,
}

impl RunStart {
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        non_empty("unit.serial", &self.unit.serial)?;
        non_empty("scenario.name", &self.scenario.name)?;
        if let Some(session) = &self.session {
            non_empty("session.id", &session.id)?;
            non_empty("session.role", &session.role)?;
        }
        sha256_hex("scenario.sha256", &self.scenario.sha256)?;
        sha256_hex("limits_sha256", &self.limits_sha256)?;
        if let Some(firmware) = &self.firmware {
            sha256_hex("firmware.sha256", &firmware.sha256)?;
        }
        Ok(())
    }
}

/// How a run ended; written as a new `run_ends` row, never as an update of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnd {
    /// When it ended.
    pub ended_at: Timestamp,
    /// Outcome.
    pub outcome: RunOutcome,
    /// Whose fault: none for a pass, required for fail and error, optional for an abort.
    pub failure_class: Option<FailureClass>,
    /// A line for people.
    pub message: Option<String>,
}

impl RunEnd {
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let expected = match (self.outcome, self.failure_class) {
            (RunOutcome::Pass, Some(_)) => "no failure class for a pass",
            (RunOutcome::Fail | RunOutcome::Error, None) => "a failure class for a fail or error",
            _ => return Ok(()),
        };
        Err(StoreError::Invalid {
            field: "failure_class",
            value: format!("{:?} with outcome {}", self.failure_class, self.outcome),
            expected,
        })
    }
}

/// One executed step; written when the step ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Position of this execution within the run, from 0, in execution order: a retried step
    /// gets a new index. Measurements and artifacts refer to it.
    pub index: u32,
    /// The scenario's step id.
    pub step_id: String,
    /// Step kind (`flash`, `measure`, `console`, …).
    pub kind: String,
    /// 1 for the first execution; n for the n-th try of this step or its enclosing retry group.
    pub attempt: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub ended_at: Timestamp,
    /// Outcome.
    pub outcome: StepOutcome,
    /// A line for people.
    pub message: Option<String>,
}

/// A measurement's limits as they were applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// The comparator as people read it (`0.04 <= x <= 0.08`, `matches ^v1\.`).
    pub comparator: String,
    /// Low limit.
    pub low: Option<f64>,
    /// Whether a value equal to `low` passes.
    pub low_inclusive: bool,
    /// High limit.
    pub high: Option<f64>,
    /// Whether a value equal to `high` passes.
    pub high_inclusive: bool,
    /// Low edge of the marginal band.
    pub marginal_low: Option<f64>,
    /// High edge of the marginal band.
    pub marginal_high: Option<f64>,
}

/// One judged measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementRecord {
    /// The index of the step (see [`StepRecord::index`]) taking it; the step's own row comes
    /// later, when the step ends.
    pub step_index: u32,
    /// Measurement name.
    pub name: String,
    /// The numeric value in `unit`; `None` for text-only values. A NaN is stored as NULL and
    /// comes back as `None`.
    pub value: Option<f64>,
    /// The text value, for string and pattern limits.
    pub text_value: Option<String>,
    /// Unit symbol of `value` and the limits.
    pub unit: Option<String>,
    /// The limits applied.
    pub limits: Limits,
    /// Passed, but outside the marginal band.
    pub marginal: bool,
    /// Verdict.
    pub outcome: MeasurementOutcome,
    /// When the value was taken.
    pub measured_at: Timestamp,
}

impl MeasurementRecord {
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        non_empty("measurement.name", &self.name)?;
        if self.marginal && self.outcome == MeasurementOutcome::Fail {
            return Err(StoreError::Invalid {
                field: "measurement.marginal",
                value: "true with outcome fail".to_owned(),
                expected: "marginal only beside a pass",
            });
        }
        Ok(())
    }
}

pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::Invalid {
            field,
            value: value.to_owned(),
            expected: "a non-empty string",
        });
    }
    Ok(())
}

pub(crate) fn sha256_hex(field: &'static str, value: &str) -> Result<(), StoreError> {
    let ok = value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(StoreError::Invalid {
            field,
            value: value.to_owned(),
            expected: "64 lowercase hex digits (sha-256)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_end_failure_class_rules() {
        let end = |outcome, failure_class| RunEnd {
            ended_at: Timestamp(0),
            outcome,
            failure_class,
            message: None,
        };
        assert!(end(RunOutcome::Pass, None).validate().is_ok());
        assert!(end(RunOutcome::Aborted, None).validate().is_ok());
        assert!(
            end(RunOutcome::Aborted, Some(FailureClass::Device))
                .validate()
                .is_ok()
        );
        let err = end(RunOutcome::Pass, Some(FailureClass::Device)).validate();
        assert!(matches!(
            err,
            Err(StoreError::Invalid {
                field: "failure_class",
                ..
            })
        ));
        let err = end(RunOutcome::Error, None).validate();
        assert!(matches!(
            err,
            Err(StoreError::Invalid {
                field: "failure_class",
                ..
            })
        ));
    }

    #[test]
    fn sha256_hex_wants_64_lowercase_digits() {
        assert!(sha256_hex("x", &"a".repeat(64)).is_ok());
        assert!(sha256_hex("x", &"A".repeat(64)).is_err());
        assert!(sha256_hex("x", &"a".repeat(63)).is_err());
        let err = sha256_hex("firmware.sha256", "zz").map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(
                "invalid firmware.sha256 \"zz\": expected 64 lowercase hex digits (sha-256)"
                    .to_owned()
            )
        );
    }
}
