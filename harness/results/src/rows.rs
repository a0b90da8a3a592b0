//! The rows every view is computed from, as a source hands them over: runs, steps,
//! measurements and artifact links. Repeated text (names, stations, units) is shared, because a
//! large store repeats a few dozen strings millions of times.

use std::collections::HashMap;
use std::sync::Arc;

use rigor_store::{FailureClass, MeasurementOutcome, RunStatus, StepOutcome};
use serde::Serialize;

/// One run of a scenario on a unit, with how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Run id within its store.
    pub id: i64,
    /// Unit serial.
    pub serial: String,
    /// Unit family.
    pub family: Arc<str>,
    /// Unit generation.
    pub generation: Arc<str>,
    /// Scenario name.
    pub scenario: Arc<str>,
    /// Scenario version.
    pub scenario_version: Arc<str>,
    /// Attempt number for this unit × scenario.
    pub attempt: u32,
    /// Station (host).
    pub station: Arc<str>,
    /// Rig.
    pub rig: Arc<str>,
    /// Slot.
    pub slot: Arc<str>,
    /// Fixture id, where the rig has one.
    pub fixture: Option<Arc<str>>,
    /// Operator.
    pub operator: Arc<str>,
    /// Firmware version, or the first 12 digits of the image's SHA-256 when it declares none.
    pub firmware: Option<Arc<str>>,
    /// SHA-256 of the bound limit set.
    pub limits_sha256: Arc<str>,
    /// Start, µs since the epoch.
    pub started_at_us: i64,
    /// End, when the run has ended.
    pub ended_at_us: Option<i64>,
    /// Outcome, or incomplete.
    pub status: RunStatus,
    /// Whose fault, for a run that did not pass.
    pub failure_class: Option<FailureClass>,
    /// The end's message.
    pub message: Option<String>,
}

impl Run {
    /// Whether this run says something about the device: it passed, or failed for the
    /// device. Infrastructure and scenario failures, aborts without a class and incomplete runs
    /// never count against the device.
    pub fn judges_device(&self) -> bool {
        self.status == RunStatus::Pass
            || (matches!(
                self.status,
                RunStatus::Fail | RunStatus::Error | RunStatus::Aborted
            ) && self.failure_class == Some(FailureClass::Device))
    }

    /// Whether the run ended in an infrastructure failure.
    pub fn is_infrastructure(&self) -> bool {
        self.failure_class == Some(FailureClass::Infrastructure)
    }
}

/// One executed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Run id.
    pub run_id: i64,
    /// Position within the run.
    pub index: u32,
    /// The scenario's step id.
    pub step_id: Arc<str>,
    /// Step kind.
    pub kind: Arc<str>,
    /// Try number of this step.
    pub attempt: u32,
    /// Start, µs.
    pub started_at_us: i64,
    /// End, µs.
    pub ended_at_us: i64,
    /// Outcome.
    pub outcome: StepOutcome,
    /// A line for people.
    pub message: Option<String>,
}

/// One judged measurement, with the limits that judged it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Run id.
    pub run_id: i64,
    /// Position in the run's recording order.
    pub seq: u32,
    /// The step that took it.
    pub step_index: u32,
    /// Measurement name.
    pub name: Arc<str>,
    /// Numeric value.
    pub value: Option<f64>,
    /// Text value.
    pub text_value: Option<String>,
    /// Unit symbol.
    pub unit: Option<Arc<str>>,
    /// The comparator as people read it.
    pub comparator: Arc<str>,
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
    /// Passed, outside the marginal band.
    pub marginal: bool,
    /// Recorded verdict.
    pub outcome: MeasurementOutcome,
    /// When taken, µs.
    pub measured_at_us: i64,
}

impl Measurement {
    /// The limits as people read them, from the recorded numbers (`3.2 <= x < 3.4 V`); the
    /// recorded comparator text for text limits and limits without numbers.
    pub fn describe_limits(&self) -> String {
        if self.low.is_none() && self.high.is_none() {
            return self.comparator.to_string();
        }
        let low = self.low.map(|l| {
            let op = if self.low_inclusive { "<=" } else { "<" };
            format!("{l} {op} ")
        });
        let high = self.high.map(|h| {
            let op = if self.high_inclusive { "<=" } else { "<" };
            format!(" {op} {h}")
        });
        let unit = self
            .unit
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        format!(
            "{}x{}{unit}",
            low.unwrap_or_default(),
            high.unwrap_or_default()
        )
    }
}

/// An artifact (a console transcript, a capture) linked to a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Run id.
    pub run_id: i64,
    /// Step index, when a step produced it.
    pub step_index: Option<u32>,
    /// Name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Content SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
}

/// Selected runs in start order, with a lookup by id.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    list: Vec<Run>,
    index: RunIndex,
}

/// Run id → position. Ids of one store are dense, so a table beats hashing for the millions of
/// lookups a scan makes; sparse selections fall back to a map.
#[derive(Debug, Clone, Default)]
enum RunIndex {
    #[default]
    Empty,
    Dense {
        first: i64,
        positions: Vec<u32>,
    },
    Sparse(HashMap<i64, usize>),
}

impl Runs {
    /// Wraps runs already in start order.
    pub fn new(list: Vec<Run>) -> Self {
        let index = match (
            list.iter().map(|r| r.id).min(),
            list.iter().map(|r| r.id).max(),
        ) {
            (Some(first), Some(last))
                if u32::try_from(list.len()).is_ok()
                    && ((last - first) as u128) < 4 * list.len() as u128 + 1024 =>
            {
                let mut positions = vec![u32::MAX; (last - first + 1) as usize];
                for (i, r) in list.iter().enumerate() {
                    positions[(r.id - first) as usize] = i as u32;
                }
                RunIndex::Dense { first, positions }
            }
            (Some(_), Some(_)) => {
                RunIndex::Sparse(list.iter().enumerate().map(|(i, r)| (r.id, i)).collect())
            }
            _ => RunIndex::Empty,
        };
        Runs { list, index }
    }

    /// Runs in start order.
    pub fn iter(&self) -> std::slice::Iter<'_, Run> {
        self.list.iter()
    }

    /// The run with this id, if selected.
    pub fn get(&self, id: i64) -> Option<&Run> {
        self.position(id).map(|i| &self.list[i])
    }

    /// Its position in start order, if selected.
    pub fn position(&self, id: i64) -> Option<usize> {
        match &self.index {
            RunIndex::Empty => None,
            RunIndex::Dense { first, positions } => {
                let slot = usize::try_from(id.checked_sub(*first)?).ok()?;
                positions
                    .get(slot)
                    .filter(|&&p| p != u32::MAX)
                    .map(|&p| p as usize)
            }
            RunIndex::Sparse(map) => map.get(&id).copied(),
        }
    }

    /// The run at `position` in start order.
    pub fn at(&self, position: usize) -> Option<&Run> {
        self.list.get(position)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// None selected.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Runs grouped by unit × scenario, each group in attempt order; groups in the order of
    /// their first run.
    pub fn by_unit_scenario(&self) -> Vec<Vec<&Run>> {
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        let mut groups: Vec<Vec<&Run>> = Vec::new();
        for run in &self.list {
            let key = (run.serial.as_str(), &*run.scenario);
            let i = *index.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[i].push(run);
        }
        for group in &mut groups {
            group.sort_by_key(|r| r.attempt);
        }
        groups
    }
}

/// Shares repeated strings, for sources building many rows that name the same few things.
#[derive(Debug, Default)]
pub struct Interner(HashMap<Box<str>, Arc<str>>);

impl Interner {
    /// The shared copy of `text`.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Box::from(text), shared.clone());
        shared
    }
}
