//! Recording runs in the SQLite store: the engine's events become the store's append-only rows.
//!
//! The store numbers a run's executed steps in order (a retried step is a new row with its
//! attempt), while the engine's step index names the step's place in the plan; this adapter
//! keeps the execution count. A step's measurements are held until the step ends and written
//! with it, so a crash keeps both or neither. Everything the writer thread hands over at once is
//! one commit.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use rigor_model::limits::{Bound, Comparator};
use rigor_runner::event::{self, Event, RunInfo};
use rigor_runner::measurement::{Judged, Value, Verdict};
use rigor_runner::recorder::{Entry, EntryResult, RecordError, Recorder};
use rigor_store::{
    Batch, FailureClass, FirmwareImage, FixtureUse, Limits, MeasurementOutcome, MeasurementRecord,
    RunEnd, RunId, RunOutcome, RunStart, ScenarioRef, StepOutcome, StepRecord, Store, Timestamp,
    UnitIdentity,
};

/// Records into a store file, a group of entries per commit.
pub struct StoreRecorder {
    store: Store,
    runs: HashMap<String, OpenRun>,
}

#[derive(Clone)]
struct OpenRun {
    id: RunId,
    executed: u32,
    pending: Vec<Judged>,
}

impl StoreRecorder {
    /// Records into `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            runs: HashMap::new(),
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Recorder for StoreRecorder {
    fn write(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        // Nearly every group is written whole: first as one all-or-nothing transaction (no
        // savepoint per record). Only if that fails is it written again record by record, each
        // in its own savepoint, so a refused record costs no other slot its records and says
        // why it was refused.
        if let Some(results) = self.write_whole(group) {
            return Ok(results);
        }
        self.write_each(group)
    }
}

impl StoreRecorder {
    /// Writes `group` in one all-or-nothing batch; `None` (nothing written) if any record or
    /// the commit failed.
    fn write_whole(&mut self, group: &[Entry]) -> Option<Vec<EntryResult>> {
        // The open runs change only if the group commits: a rolled-back begin opened nothing.
        let mut runs = self.runs.clone();
        let mut batch = self.store.all_or_nothing_batch().ok()?;
        let results = group
            .iter()
            .map(|entry| match entry {
                Entry::Begin(run) => begin(&mut batch, &mut runs, run).map(Some),
                Entry::Event(event) => record(&mut batch, &mut runs, event).map(|()| None),
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        batch.commit().ok()?;
        self.runs = runs;
        Some(results.into_iter().map(Ok).collect())
    }

    /// Writes `group` record by record, each on its own, in one commit.
    fn write_each(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        let mut runs = self.runs.clone();
        let mut batch = self
            .store
            .batch()
            .map_err(|e| RecordError::backend(format!("a group of {} records", group.len()), e))?;
        let results = group
            .iter()
            .map(|entry| match entry {
                Entry::Begin(run) => begin(&mut batch, &mut runs, run).map(Some),
                Entry::Event(event) => record(&mut batch, &mut runs, event).map(|()| None),
            })
            .collect();
        batch
            .commit()
            .map_err(|e| RecordError::backend(format!("a group of {} records", group.len()), e))?;
        self.runs = runs;
        Ok(results)
    }
}

fn begin(
    batch: &mut Batch<'_>,
    runs: &mut HashMap<String, OpenRun>,
    run: &RunInfo,
) -> Result<u32, RecordError> {
    let started = run
        .started_at
        .duration_since(UNIX_EPOCH)
        .map(micros)
        .unwrap_or_default();
    let start = RunStart {
        unit: UnitIdentity {
            serial: run.unit.clone(),
            family: run.family.clone(),
            generation: run.generation.clone(),
        },
        scenario: ScenarioRef {
            name: run.scenario.clone(),
            version: run.scenario_version.to_string(),
            sha256: run.scenario_hash.clone(),
        },
        station: run.station.clone().unwrap_or_else(|| run.rig.clone()),
        rig: run.rig.clone(),
        slot: run.slot.clone(),
        // No shipped fixture reports its own counter yet: the store counts.
        fixture: Some(FixtureUse {
            id: run.fixture.clone(),
            insertions: None,
        }),
        operator: run.operator.clone().unwrap_or_default(),
        firmware: run.firmware_sha256.clone().map(|sha256| FirmwareImage {
            sha256,
            version: run.firmware_version.clone(),
        }),
        limits_sha256: run.limit_set_hash.clone(),
        session: run
            .session
            .clone()
            .zip(run.role.clone())
            .map(|(id, role)| rigor_store::SessionUse { id, role }),
        started_at: Timestamp(started),
    };
    let handle = batch.begin_run(&start).map_err(|e| {
        RecordError::backend(format!("the start of {} on {}", run.scenario, run.unit), e)
    })?;
    runs.insert(
        run.slot.clone(),
        OpenRun {
            id: handle.id,
            executed: 0,
            pending: Vec::new(),
        },
    );
    Ok(handle.attempt)
}

fn open_run<'r>(
    runs: &'r mut HashMap<String, OpenRun>,
    slot: &str,
) -> Result<&'r mut OpenRun, RecordError> {
    runs.get_mut(slot).ok_or_else(|| RecordError::NoOpenRun {
        slot: slot.to_owned(),
    })
}

fn record(
    batch: &mut Batch<'_>,
    runs: &mut HashMap<String, OpenRun>,
    event: &Event,
) -> Result<(), RecordError> {
    match event {
        Event::RunStarted { .. } | Event::StepStarted { .. } => Ok(()),
        Event::Measured { slot, judged, .. } => {
            open_run(runs, slot)?.pending.push(judged.clone());
            Ok(())
        }
        Event::StepFinished {
            slot,
            label,
            kind,
            attempt,
            outcome,
            duration,
            ..
        } => {
            let run = open_run(runs, slot)?;
            let index = run.executed;
            let ended = Timestamp::now();
            let (outcome, message) = match outcome {
                event::StepOutcome::Pass => (StepOutcome::Pass, None),
                event::StepOutcome::Skipped => (StepOutcome::Skipped, None),
                event::StepOutcome::Fail { message } => (StepOutcome::Fail, Some(message.clone())),
                event::StepOutcome::Error { class, message } => {
                    (StepOutcome::Error, Some(format!("{class}: {message}")))
                }
            };
            let step = StepRecord {
                index,
                step_id: label.clone(),
                kind: (*kind).to_owned(),
                attempt: *attempt,
                started_at: Timestamp(ended.as_micros() - micros(*duration)),
                ended_at: ended,
                outcome,
                message,
            };
            // The step and its measurements together: a crash keeps both or neither.
            let measurements: Vec<_> = run.pending.iter().map(|j| measurement(index, j)).collect();
            batch
                .record_step_with_measurements(run.id, &step, &measurements)
                .map_err(|e| RecordError::backend(format!("step `{label}` of slot {slot}"), e))?;
            run.executed += 1;
            run.pending.clear();
            Ok(())
        }
        Event::Artifact {
            slot,
            name,
            media_type,
            content,
            ..
        } => {
            let run = open_run(runs, slot)?;
            batch
                .store_artifact(run.id, None, name, media_type, content)
                .map(|_| ())
                .map_err(|e| RecordError::backend(format!("artifact `{name}` of slot {slot}"), e))
        }
        Event::RunFinished {
            run,
            outcome,
            class,
            message,
            ..
        } => {
            let id = open_run(runs, &run.slot)?.id;
            let outcome = match outcome {
                event::RunOutcome::Pass => RunOutcome::Pass,
                event::RunOutcome::Fail => RunOutcome::Fail,
                event::RunOutcome::Error => RunOutcome::Error,
                event::RunOutcome::Aborted => RunOutcome::Aborted,
            };
            let failure_class = match outcome {
                RunOutcome::Pass => None,
                _ => class.map(|c| match c {
                    event::FailureClass::Infrastructure => FailureClass::Infrastructure,
                    event::FailureClass::Device => FailureClass::Device,
                    event::FailureClass::Scenario => FailureClass::Scenario,
                }),
            };
            let end = RunEnd {
                ended_at: Timestamp::now(),
                outcome,
                failure_class,
                message: message.clone(),
            };
            batch.end_run(id, &end).map_err(|e| {
                RecordError::backend(format!("the end of {} on {}", run.scenario, run.unit), e)
            })?;
            runs.remove(&run.slot);
            Ok(())
        }
    }
}

/// A judged measurement as the store keeps it.
fn measurement(step_index: u32, j: &Judged) -> MeasurementRecord {
    let (value, text_value) = match &j.value {
        Value::Number(n) => (Some(*n), None),
        Value::Text(t) => (None, Some(t.clone())),
    };
    let bound = |b: Option<Bound>| match b {
        Some(Bound::Inclusive(v)) => (Some(v), true),
        Some(Bound::Exclusive(v)) => (Some(v), false),
        None => (None, true),
    };
    // The comparator as the store documents it, the way analysts read it (`0.04 <= x <= 0.08`);
    // the bounds beside it are the same numbers, typed, for queries.
    let comparator = j.comparator.describe();
    let ((low, low_inclusive), (high, high_inclusive)) = match &j.comparator {
        Comparator::Range { low, high } => (bound(*low), bound(*high)),
        Comparator::Equals { value } => ((Some(*value), true), (Some(*value), true)),
        Comparator::Matches { .. } => ((None, true), (None, true)),
    };
    MeasurementRecord {
        step_index,
        name: j.name.clone(),
        value,
        text_value,
        unit: j.unit.map(|u| u.symbol().to_owned()),
        limits: Limits {
            comparator,
            low,
            low_inclusive,
            high,
            high_inclusive,
            marginal_low: j.marginal.and_then(|m| m.low),
            marginal_high: j.marginal.and_then(|m| m.high),
        },
        marginal: j.verdict == Verdict::Marginal,
        outcome: if j.verdict.passed() {
            MeasurementOutcome::Pass
        } else {
            MeasurementOutcome::Fail
        },
        measured_at: Timestamp::now(),
    }
}
