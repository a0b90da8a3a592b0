//! Recording runs in the SQLite store: the engine's events become the store's append-only rows.
//!
//! The store numbers a run's executed steps in order (a retried step is a new row with its
//! attempt), while the engine's step index names the step's place in the plan; this adapter
//! keeps the execution count. A step's measurements are held until the step ends and written
//! with it, so a crash keeps both or neither. Everything the writer thread hands over at once is
//! one commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use rigor_model::limits::{Bound, Comparator};
use rigor_runner::event::{self, Event, RunInfo};
use rigor_runner::measurement::{Judged, Value, Verdict};
use rigor_runner::recorder::{Entry, EntryResult, RecordError, Recorder};
use rigor_store::spill::{SpillFile, SpillRecord};
use rigor_store::{
    Batch, FailureClass, FirmwareImage, FixtureUse, Limits, MeasurementOutcome, MeasurementRecord,
    RunEnd, RunId, RunOutcome, RunStart, ScenarioRef, StepOutcome, StepRecord, Store, StoreError,
    Timestamp, UnitIdentity,
};

/// Records into a store file, a group of entries per commit; what the store cannot take goes
/// to a spill file beside it, which the next open of the store replays.
pub struct StoreRecorder {
    store: Store,
    /// The store file and its identity (device, inode) when opened, to notice it vanish.
    file: Option<(PathBuf, (u64, u64))>,
    /// Where to spill: the store's file and its station id. `None` keeps nothing.
    spill_to: Option<(PathBuf, uuid::Uuid)>,
    spill: Option<SpillFile>,
    runs: HashMap<String, OpenRun>,
}

#[derive(Clone)]
struct OpenRun {
    id: RunId,
    executed: u32,
    pending: Vec<Judged>,
}

impl StoreRecorder {
    /// Records into `store`, keeping nothing it cannot take.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            file: None,
            spill_to: None,
            spill: None,
            runs: HashMap::new(),
        }
    }

    /// Records into `store`, opened from `path`; what it cannot take is kept in a spill file
    /// beside it ([`rigor_store::spill`]).
    pub fn spilling_beside(store: Store, path: &Path) -> Self {
        let station = store.station_id().ok();
        Self {
            file: identity(path).map(|id| (path.to_owned(), id)),
            spill_to: station.map(|s| (path.to_owned(), s)),
            ..Self::new(store)
        }
    }

    /// An error if the store's file was deleted or replaced since it was opened: SQLite would
    /// go on writing to the unlinked file, and every record would vanish with it.
    fn still_there(&self) -> Result<(), StoreVanished> {
        match &self.file {
            Some((path, id)) if identity(path) != Some(*id) => {
                Err(StoreVanished { path: path.clone() })
            }
            _ => Ok(()),
        }
    }
}

/// The store's file is no longer the one rigor opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store file {path} is gone: deleted or replaced while rigor ran, so what is written to \
     it now would be lost"
)]
pub struct StoreVanished {
    /// Where the store was.
    pub path: PathBuf,
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Recorder for StoreRecorder {
    fn write(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        self.still_there()
            .map_err(|e| RecordError::backend(format!("a group of {} records", group.len()), e))?;
        // Nearly every group is written whole: first as one all-or-nothing transaction (no
        // savepoint per record). Only if that fails is it written again record by record, each
        // in its own savepoint, so a refused record costs no other slot its records and says
        // why it was refused.
        if let Some(results) = self.write_whole(group) {
            return Ok(results);
        }
        self.write_each(group)
    }

    fn spill(&mut self, group: &[Entry]) -> Option<Result<PathBuf, RecordError>> {
        self.spill_to.as_ref()?;
        // The records follow from the runs as the store last took them, so step numbers go on
        // where the store's stop.
        let mut records = Vec::new();
        for entry in group {
            if let Entry::Event(event) = entry {
                match record(&mut self.runs, event) {
                    Ok(r) => records.extend(r),
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        self.keep(&records)
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
                Entry::Begin(run) => begin(&mut batch, &mut runs, run, &|e| e).map(Some),
                Entry::Event(event) => record(&mut runs, event)
                    .and_then(|r| r.map_or(Ok(()), |r| apply(&mut batch, event, &r)))
                    .map(|()| None),
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        batch.commit().ok()?;
        self.runs = runs;
        Some(results.into_iter().map(Ok).collect())
    }

    /// Writes `group` record by record, each on its own, in one commit. A record the store
    /// refuses is kept in the spill with the store's reason, and its entry's error says where.
    fn write_each(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        let mut runs = self.runs.clone();
        let mut refused = Vec::new();
        // SQLite's errors name no file: a damaged store is told apart, by its path.
        let file = self.file.as_ref().map(|(path, _)| path.clone());
        let at = |e: StoreError| match &file {
            Some(path) => e.at(path),
            None => e,
        };
        let whole = |e| RecordError::backend(format!("a group of {} records", group.len()), at(e));
        let mut batch = self.store.batch().map_err(whole)?;
        let mut results: Vec<EntryResult> = group
            .iter()
            .enumerate()
            .map(|(i, entry)| match entry {
                Entry::Begin(run) => begin(&mut batch, &mut runs, run, &at).map(Some),
                Entry::Event(event) => match record(&mut runs, event)? {
                    None => Ok(None),
                    Some(record) => match record.write_into(&mut batch).map_err(at) {
                        Ok(()) => Ok(None),
                        Err(e) => {
                            let reason = crate::chain(&e);
                            refused.push((
                                i,
                                SpillRecord::Refused {
                                    reason,
                                    refused: Box::new(record),
                                },
                            ));
                            Err(RecordError::backend(what(event), e))
                        }
                    },
                },
            })
            .collect();
        batch.commit().map_err(whole)?;
        self.runs = runs;
        // Only now: had the commit failed, the whole group would be spilled as it is.
        if !refused.is_empty() {
            let records: Vec<SpillRecord> = refused.iter().map(|(_, r)| r.clone()).collect();
            if let Some(kept) = self.keep(&records) {
                for (i, _) in refused {
                    let Some(Err(error)) = results.get(i).cloned() else {
                        continue;
                    };
                    results[i] = Err(match &kept {
                        Ok(path) => RecordError::Spilled {
                            path: path.clone(),
                            source: Box::new(error),
                        },
                        Err(spill) => RecordError::Lost {
                            spill: Box::new(spill.clone()),
                            source: Box::new(error),
                        },
                    });
                }
            }
        }
        Ok(results)
    }

    /// Appends `records` to the spill (opened on first use); `None` if this recorder keeps
    /// nothing.
    fn keep(&mut self, records: &[SpillRecord]) -> Option<Result<PathBuf, RecordError>> {
        let (path, station) = self.spill_to.as_ref()?;
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => match SpillFile::open(path, *station) {
                Ok(opened) => self.spill.insert(opened),
                Err(e) => return Some(Err(RecordError::backend("a spill file", e))),
            },
        };
        Some(
            spill
                .append(records)
                .map(|()| spill.path().to_owned())
                .map_err(|e| RecordError::backend("a spill file", e)),
        )
    }
}

fn apply(batch: &mut Batch<'_>, event: &Event, record: &SpillRecord) -> Result<(), RecordError> {
    record
        .write_into(batch)
        .map_err(|e| RecordError::backend(what(event), e))
}

/// What the record of `event` is, for the error if it cannot be made (written only then: a
/// step's record is made some thousand times a second).
fn what(event: &Event) -> String {
    match event {
        Event::StepStarted { slot, label, .. } | Event::StepFinished { slot, label, .. } => {
            format!("step `{label}` of slot {slot}")
        }
        Event::Measured { slot, judged, .. } => {
            format!("measurement `{}` of slot {slot}", judged.name)
        }
        Event::Artifact { slot, name, .. } => format!("artifact `{name}` of slot {slot}"),
        Event::RunStarted { run } => format!("the start of {} on {}", run.scenario, run.unit),
        Event::RunFinished { run, .. } => format!("the end of {} on {}", run.scenario, run.unit),
    }
}

/// Records a run's start; `at` names the store in its error.
fn begin(
    batch: &mut Batch<'_>,
    runs: &mut HashMap<String, OpenRun>,
    run: &RunInfo,
    at: &dyn Fn(StoreError) -> StoreError,
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
        RecordError::backend(
            format!("the start of {} on {}", run.scenario, run.unit),
            at(e),
        )
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

/// The record `event` makes, if any (most make none: a step's measurements wait for its end).
fn record(
    runs: &mut HashMap<String, OpenRun>,
    event: &Event,
) -> Result<Option<SpillRecord>, RecordError> {
    match event {
        Event::RunStarted { .. } | Event::StepStarted { .. } => Ok(None),
        Event::Measured { slot, judged, .. } => {
            open_run(runs, slot)?.pending.push(judged.clone());
            Ok(None)
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
            let measurements = run.pending.iter().map(|j| measurement(index, j)).collect();
            let record = SpillRecord::Step {
                run: run.id,
                step,
                measurements,
            };
            run.executed += 1;
            run.pending.clear();
            Ok(Some(record))
        }
        Event::Artifact {
            slot,
            name,
            media_type,
            content,
            ..
        } => {
            let run = open_run(runs, slot)?;
            Ok(Some(SpillRecord::Artifact {
                run: run.id,
                name: name.clone(),
                media_type: media_type.clone(),
                content: content.to_vec(),
            }))
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
            runs.remove(&run.slot);
            Ok(Some(SpillRecord::End { run: id, end }))
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
