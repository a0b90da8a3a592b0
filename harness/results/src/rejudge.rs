//! Re-judging: recorded values against a revised limit set, as a what-if. Nothing in the store
//! changes; the recorded verdicts stay what they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rigor_model::diagnostic::{Diagnostics, FileContext};
use rigor_model::limits::{Bound, CheckedLimits, Comparator, Limits};
use rigor_model::unit::Unit;
use rigor_store::{FailureClass, MeasurementOutcome, RunStatus, StepOutcome};
use serde::Serialize;

use crate::error::ResultsError;
use crate::rows::{Measurement, Run, Runs};
use crate::source::Source;
use crate::yields::{Dimension, YieldRow, yield_report};

/// A revised limit set: measurement name → limits, in the YAML of a scenario's `limits:`
/// (`vbat: { low: 3.1, high: 3.5, unit: V, marginal: { low: 3.15 } }`).
#[derive(Debug, Clone)]
pub struct RevisedLimits {
    by_name: BTreeMap<String, RevisedEntry>,
}

#[derive(Debug, Clone)]
struct RevisedEntry {
    checked: CheckedLimits,
    pattern: Option<regex::Regex>,
}

impl RevisedLimits {
    /// Reads and checks a limits file.
    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResultsError::LimitsFile {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks limits given as text; `path` names them in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ResultsError> {
        let raw: BTreeMap<String, Limits> =
            yaml_serde::from_str(text).map_err(|source| ResultsError::LimitsParse {
                path: path.to_owned(),
                source,
            })?;
        let (map, _) = rigor_model::source::scan(path, text);
        let ctx = FileContext::new(path.to_path_buf(), map);
        let invalid = |measurement: &str, reason: String| ResultsError::LimitsInvalid {
            path: PathBuf::from(path),
            measurement: measurement.to_owned(),
            reason,
        };
        let mut by_name = BTreeMap::new();
        for (name, limits) in raw {
            if limits.from_profile.is_some() {
                return Err(invalid(
                    &name,
                    "`from-profile` needs a device profile; give the numbers".to_owned(),
                ));
            }
            let mut diags = Diagnostics::default();
            let Some(checked) = limits.check(&ctx, &name, &mut diags) else {
                let reasons: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
                return Err(invalid(&name, reasons.join("; ")));
            };
            let pattern = match &checked.comparator {
                Comparator::Matches { pattern } => Some(
                    regex::Regex::new(&format!("^(?:{pattern})$"))
                        .map_err(|e| invalid(&name, e.to_string()))?,
                ),
                _ => None,
            };
            by_name.insert(name, RevisedEntry { checked, pattern });
        }
        Ok(RevisedLimits { by_name })
    }

    /// The measurement names revised.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The revised verdict of `m`, `None` when its limits are not revised or cannot apply (a
    /// unit of another dimension, a text value against numbers).
    pub fn judge(&self, m: &Measurement) -> Option<MeasurementOutcome> {
        let revised = self.by_name.get(&*m.name)?;
        let pass = match (&revised.checked.comparator, &revised.pattern) {
            (Comparator::Matches { .. }, Some(re)) => re.is_match(m.text_value.as_deref()?),
            (Comparator::Matches { .. }, None) => return None,
            (comparator, _) => {
                let value = convert(m, revised.checked.unit)?;
                match comparator {
                    Comparator::Equals { value: want } => value == *want,
                    Comparator::Range { low, high } => {
                        low.is_none_or(|b| match b {
                            Bound::Inclusive(l) => value >= l,
                            Bound::Exclusive(l) => value > l,
                        }) && high.is_none_or(|b| match b {
                            Bound::Inclusive(h) => value <= h,
                            Bound::Exclusive(h) => value < h,
                        })
                    }
                    Comparator::Matches { .. } => return None,
                }
            }
        };
        Some(if pass {
            MeasurementOutcome::Pass
        } else {
            MeasurementOutcome::Fail
        })
    }

    /// The revised comparator of `name` as people read it.
    pub fn describe(&self, name: &str) -> Option<String> {
        self.by_name.get(name).map(|r| {
            let unit = r.checked.unit.map(|u| format!(" {u}")).unwrap_or_default();
            format!("{}{unit}", r.checked.comparator.describe())
        })
    }
}

/// The value of `m` in `unit`: the recorded unit must parse and share the dimension.
fn convert(m: &Measurement, unit: Option<Unit>) -> Option<f64> {
    let value = m.value?;
    match (unit, m.unit.as_deref().and_then(Unit::parse)) {
        (Some(target), Some(recorded)) => recorded.convert(value, target),
        (None, _) => Some(value),
        (Some(_), None) => None,
    }
}

/// A measurement whose verdict the revised limits change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasurementChange {
    /// Unit serial.
    pub serial: String,
    /// Run id.
    pub run_id: i64,
    /// Scenario.
    pub scenario: String,
    /// Attempt.
    pub attempt: u32,
    /// Measurement name.
    pub measurement: String,
    /// Recorded value.
    pub value: Option<f64>,
    /// Its unit.
    pub unit: Option<String>,
    /// The limits that judged it.
    pub recorded_limits: String,
    /// The recorded verdict.
    pub recorded: MeasurementOutcome,
    /// The revised limits.
    pub revised_limits: String,
    /// The verdict under them.
    pub revised: MeasurementOutcome,
}

/// What an attempt's outcome would be under the revised limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Revised {
    /// Would pass.
    Pass,
    /// Would fail.
    Fail,
    /// Its failures would all pass, but steps after them were skipped: what they would have
    /// said is unknown (counted as a fail in the yield after).
    Unknown,
}

/// An attempt whose outcome the revised limits change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunChange {
    /// Unit serial.
    pub serial: String,
    /// Run id.
    pub run_id: i64,
    /// Scenario.
    pub scenario: String,
    /// Attempt.
    pub attempt: u32,
    /// The recorded outcome.
    pub recorded: RunStatus,
    /// The outcome under the revised limits.
    pub revised: Revised,
}

/// The re-judging view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejudgeReport {
    /// Measurements whose verdict changes.
    pub measurements: Vec<MeasurementChange>,
    /// Attempts whose outcome changes.
    pub runs: Vec<RunChange>,
    /// Revised measurements whose readings could not be judged (unit of another dimension).
    pub not_judged: u64,
    /// Names in the limits file that no selected run recorded (a typo, another product).
    pub unmatched: Vec<String>,
    /// Yield as recorded.
    pub yield_before: Vec<YieldRow>,
    /// Yield under the revised limits.
    pub yield_after: Vec<YieldRow>,
}

/// Applies `limits` to the recorded values of `runs`.
pub fn rejudge(
    source: &dyn Source,
    runs: &Runs,
    limits: &RevisedLimits,
    by: Dimension,
) -> Result<RejudgeReport, ResultsError> {
    let mut measurements = Vec::new();
    let mut not_judged = 0;
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    // Per run: (a recorded failure stays a failure, a new failure appeared).
    let mut per_run: BTreeMap<i64, (bool, bool)> = BTreeMap::new();
    source.for_each_measurement(runs, None, &mut |m| {
        let Some(run) = runs.get(m.run_id) else {
            return;
        };
        let entry = per_run.entry(m.run_id).or_default();
        if limits.by_name.contains_key(&*m.name) && !seen.contains(&*m.name) {
            seen.insert(m.name.to_string());
        }
        let revised = match limits.by_name.get(&*m.name) {
            None => m.outcome,
            Some(_) => match limits.judge(m) {
                Some(outcome) => outcome,
                None => {
                    not_judged += 1;
                    m.outcome
                }
            },
        };
        if m.outcome == MeasurementOutcome::Fail && revised == MeasurementOutcome::Fail {
            entry.0 = true;
        }
        if m.outcome == MeasurementOutcome::Pass && revised == MeasurementOutcome::Fail {
            entry.1 = true;
        }
        if revised != m.outcome {
            measurements.push(MeasurementChange {
                serial: run.serial.clone(),
                run_id: run.id,
                scenario: run.scenario.to_string(),
                attempt: run.attempt,
                measurement: m.name.to_string(),
                value: m.value,
                unit: m.unit.as_deref().map(str::to_owned),
                recorded_limits: m.describe_limits(),
                recorded: m.outcome,
                revised_limits: limits.describe(&m.name).unwrap_or_default(),
                revised,
            });
        }
    })?;
    let steps = source.steps(runs)?;
    let mut changes = Vec::new();
    let mut after = Vec::with_capacity(runs.len());
    for run in runs.iter() {
        let (still_failing, newly_failing) = per_run.get(&run.id).copied().unwrap_or_default();
        let run_steps = steps.iter().filter(|s| s.run_id == run.id);
        let revised = match run.status {
            RunStatus::Pass if newly_failing => Some(Revised::Fail),
            RunStatus::Fail
                if run.failure_class == Some(FailureClass::Device)
                    && !still_failing
                    && measurements.iter().any(|c| c.run_id == run.id) =>
            {
                let mut skipped = false;
                let mut other_failure = false;
                for s in run_steps {
                    skipped |= s.outcome == StepOutcome::Skipped;
                    other_failure |= s.outcome == StepOutcome::Error;
                }
                match (other_failure, skipped) {
                    (true, _) => None,
                    (false, true) => Some(Revised::Unknown),
                    (false, false) => Some(Revised::Pass),
                }
            }
            _ => None,
        };
        let mut judged = run.clone();
        if let Some(revised) = revised {
            changes.push(RunChange {
                serial: run.serial.clone(),
                run_id: run.id,
                scenario: run.scenario.to_string(),
                attempt: run.attempt,
                recorded: run.status,
                revised,
            });
            set_outcome(&mut judged, revised);
        }
        after.push(judged);
    }
    Ok(RejudgeReport {
        measurements,
        runs: changes,
        not_judged,
        unmatched: limits
            .names()
            .filter(|n| !seen.contains(*n))
            .map(str::to_owned)
            .collect(),
        yield_before: yield_report(runs, by, &[]).rows,
        yield_after: yield_report(&Runs::new(after), by, &[]).rows,
    })
}

fn set_outcome(run: &mut Run, revised: Revised) {
    match revised {
        Revised::Pass => {
            run.status = RunStatus::Pass;
            run.failure_class = None;
        }
        Revised::Fail | Revised::Unknown => {
            run.status = RunStatus::Fail;
            run.failure_class = Some(FailureClass::Device);
        }
    }
}
