//! Records the store could not take when they happened (its disk full, a damaged page), kept in a
//! spill file beside it (`rigor.db-spill` for `rigor.db`) and replayed into it later, exactly
//! once. A spill holds only records of runs the store had already begun, so each names its run
//! by the store's id; its header names the store by its station id.
//!
//! A full disk would refuse the spill too, so the recorder sets aside a reserve file beside the
//! store when it opens it ([`set_aside_reserve`]) and gives it back to the filesystem when it
//! spills. On a copy-on-write filesystem (btrfs, ZFS) an overwrite needs room of its own; the
//! reserve is freed, not overwritten, so it works there too.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use rusqlite::{ErrorCode, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::input::{MeasurementRecord, RunEnd, StepRecord};
use crate::store::Store;
use crate::types::{RunId, Timestamp};

/// The reserve's size: a run's remaining steps, its teardown and end, with room to spare.
pub const RESERVE_BYTES: usize = 1 << 20;

/// The spill file of the store at `store`.
pub fn spill_path(store: &Path) -> PathBuf {
    suffixed(store, "-spill")
}

/// The reserve file of the store at `store`.
pub fn reserve_path(store: &Path) -> PathBuf {
    suffixed(store, "-reserve")
}

fn suffixed(store: &Path, suffix: &str) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes sure the reserve beside `store` exists at full size; written with zeros, since a file
/// only extended (`set_len`) would hold no blocks to give back.
pub fn set_aside_reserve(store: &Path) -> Result<(), StoreError> {
    let path = reserve_path(store);
    let io = |source| StoreError::Spill {
        path: path.clone(),
        source,
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.len() == RESERVE_BYTES as u64 => return Ok(()),
        Ok(_) | Err(_) => {}
    }
    let mut file = File::create(&path).map_err(io)?;
    let written = file
        .write_all(&vec![0; RESERVE_BYTES])
        .and_then(|()| file.sync_data());
    if let Err(e) = written {
        // A partial reserve is only in the way of the store.
        let _ = std::fs::remove_file(&path);
        return Err(io(e));
    }
    Ok(())
}

/// One record of a run the store already began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum SpillRecord {
    /// A finished step with its measurements.
    Step {
        /// The run, by the store's id.
        run: RunId,
        /// The step.
        step: StepRecord,
        /// Its measurements.
        measurements: Vec<MeasurementRecord>,
    },
    /// An artifact of the run.
    Artifact {
        /// The run.
        run: RunId,
        /// Its name.
        name: String,
        /// Its media type.
        media_type: String,
        /// Its bytes.
        content: Vec<u8>,
    },
    /// The run's end.
    End {
        /// The run.
        run: RunId,
        /// How it ended.
        end: RunEnd,
    },
    /// A record the store refused when it happened, while the rest of its group was committed,
    /// kept with the store's reason. A replay tries it again (a refusal that was not on its
    /// merits may pass now) and reports it if it is refused again.
    Refused {
        /// Why the store refused it.
        reason: String,
        /// The record.
        refused: Box<SpillRecord>,
    },
}

impl SpillRecord {
    /// Writes this record into `batch`, as it would have been written when it happened: the
    /// recorder writes records this way, and a replay writes a spill's.
    pub fn write_into(&self, batch: &mut crate::record::Batch<'_>) -> Result<(), StoreError> {
        match self {
            SpillRecord::Step {
                run,
                step,
                measurements,
            } => batch.record_step_with_measurements(*run, step, measurements),
            SpillRecord::Artifact {
                run,
                name,
                media_type,
                content,
            } => batch
                .store_artifact(*run, None, name, media_type, content)
                .map(|_| ()),
            SpillRecord::End { run, end } => batch.end_run(*run, end),
            SpillRecord::Refused { refused, .. } => refused.write_into(batch),
        }
    }

    /// What the record is, as a person reads it in a replay's report.
    pub fn describe(&self) -> String {
        match self {
            SpillRecord::Step { run, step, .. } => {
                format!("step {} (`{}`) of run {run}", step.index, step.step_id)
            }
            SpillRecord::Artifact { run, name, .. } => format!("artifact `{name}` of run {run}"),
            SpillRecord::End { run, .. } => format!("the end of run {run}"),
            SpillRecord::Refused { refused, .. } => refused.describe(),
        }
    }
}

/// The first line of a spill file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// The format's version.
    #[serde(rename = "rigor-spill")]
    format: u32,
    /// This spill's id: the store notes it when it replays the spill.
    id: Uuid,
    /// The station id of the store it belongs to.
    station: Uuid,
}

/// A spill file open for appending.
pub struct SpillFile {
    path: PathBuf,
    file: File,
}

impl SpillFile {
    /// Opens the spill beside `store` (of station `station`), creating it with its header, after
    /// giving the reserve back to the filesystem so there is room to write it.
    pub fn open(store: &Path, station: Uuid) -> Result<SpillFile, StoreError> {
        let path = spill_path(store);
        let io = |source| StoreError::Spill {
            path: path.clone(),
            source,
        };
        match std::fs::remove_file(reserve_path(store)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            let header = Header {
                format: 1,
                id: Uuid::new_v4(),
                station,
            };
            let mut line = serde_json::to_vec(&header).map_err(|e| io(e.into()))?;
            line.push(b'\n');
            file.write_all(&line).map_err(io)?;
        }
        Ok(SpillFile { path, file })
    }

    /// Where the spill is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records`, durably: written in one piece and synced before it returns.
    pub fn append(&mut self, records: &[SpillRecord]) -> Result<(), StoreError> {
        let io = |source| StoreError::Spill {
            path: self.path.clone(),
            source,
        };
        let mut text = Vec::new();
        for r in records {
            serde_json::to_writer(&mut text, r).map_err(|e| io(e.into()))?;
            text.push(b'\n');
        }
        self.file.write_all(&text).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// What replaying a spill came to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Records now in the store.
    pub records: usize,
    /// Records the store refused (as it would have then: a run already ended, a duplicate step).
    pub refused: usize,
    /// The store had already replayed this spill (rigor stopped before removing the file).
    pub already: bool,
    /// Runs the records now in the store belong to.
    pub runs: usize,
    /// Steps now in the store, with their measurements.
    pub steps: usize,
    /// Measurements now in the store.
    pub measurements: usize,
    /// Artifacts now in the store.
    pub artifacts: usize,
    /// Run ends now in the store.
    pub ends: usize,
    /// Each refused record, in the spill's order.
    pub refusals: Vec<Refusal>,
    /// Where the refused records were kept (see [`refused_path`]), if any were.
    pub refused_kept: Option<PathBuf>,
}

/// A record a replay could not put into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its 1-based line in the spill.
    pub line: usize,
    /// What it is (`step 4 (`boot`) of run 12`).
    pub what: String,
    /// Why the store refused it.
    pub reason: String,
}

/// A refused record as kept beside the store: one JSON line each.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeptRefusal {
    /// The spill it came from.
    pub spill: Uuid,
    /// Its line there.
    pub line: usize,
    /// Why the store refused it.
    pub reason: String,
    /// The record.
    pub record: SpillRecord,
}

/// Where a replay keeps the records the store refused, beside the spill (`rigor.db-refused` for
/// `rigor.db-spill`): a replay removes the spill, and a refused record must not go with it.
pub fn refused_path(spill: &Path) -> PathBuf {
    let name = spill.as_os_str().to_string_lossy();
    match name.strip_suffix("-spill") {
        Some(store) => PathBuf::from(format!("{store}-refused")),
        None => suffixed(spill, ".refused"),
    }
}

impl Replayed {
    /// One line for a person: what the replay of `spill` put into the store and what it refused.
    pub fn summary(&self, spill: &Path) -> String {
        if self.already {
            return format!(
                "the spill {} was already replayed (its id is on record); removed it",
                spill.display()
            );
        }
        let n = |count: usize, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        let refused = match &self.refused_kept {
            Some(kept) => format!("{} refused (kept in {})", self.refused, kept.display()),
            None => format!("{} refused", self.refused),
        };
        format!(
            "replayed the spill {} into the store: {} ({}, {}, {}, {}), {refused}",
            spill.display(),
            n(self.runs, "run", "runs"),
            n(self.steps, "step", "steps"),
            n(self.measurements, "measurement", "measurements"),
            n(self.artifacts, "artifact", "artifacts"),
            n(self.ends, "run end", "run ends"),
        )
    }

    /// The summary, then each refused record with the store's reason.
    pub fn report(&self, spill: &Path) -> String {
        let mut out = self.summary(spill);
        out.push('\n');
        for r in &self.refusals {
            out.push_str(&format!(
                "  refused line {}: {}: {}\n",
                r.line, r.what, r.reason
            ));
        }
        out
    }
}

impl Store {
    /// Replays the spill file at `spill` into the store in one transaction and removes the file;
    /// `None` if there is none. Exactly once: the spill's id is recorded with its records, and a
    /// spill whose id is on record is only removed. Records the store refuses are appended to
    /// the file [`refused_path`] names, with the store's reason, before the spill goes.
    pub fn replay_spill(&mut self, spill: &Path) -> Result<Option<Replayed>, StoreError> {
        let io = |source| StoreError::Spill {
            path: spill.to_owned(),
            source,
        };
        let text = match std::fs::read_to_string(spill) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let format = |line, source| StoreError::SpillFormat {
            path: spill.to_owned(),
            line,
            source,
        };
        // A line without its newline was being written when rigor died: it was never synced, so
        // it was never promised; every other line must read.
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        let mut lines = complete.lines().enumerate();
        let Some((_, head)) = lines.next() else {
            std::fs::remove_file(spill).map_err(io)?;
            return Ok(None);
        };
        let header: Header = serde_json::from_str(head).map_err(|e| format(1, e))?;
        let this = self.station_id()?;
        if header.station != this {
            return Err(StoreError::SpillOfAnotherStore {
                path: spill.to_owned(),
                spilled_by: header.station,
                this,
            });
        }
        let records = lines
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map(|r| (i + 1, r))
                    .map_err(|e| format(i + 1, e))
            })
            .collect::<Result<Vec<(usize, SpillRecord)>, _>>()?;
        let mut batch = self.batch()?;
        let done: Option<i64> = batch
            .tx
            .query_row(
                "SELECT records FROM replayed_spills WHERE spill_uuid = ?1",
                [header.id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let replayed = if done.is_some() {
            drop(batch);
            Replayed {
                already: true,
                ..Replayed::default()
            }
        } else {
            let mut replayed = Replayed::default();
            let mut runs = std::collections::BTreeSet::new();
            let mut kept = Vec::new();
            for (line, record) in records {
                match record.write_into(&mut batch) {
                    Ok(()) => {
                        replayed.records += 1;
                        count(&mut replayed, &mut runs, &record);
                    }
                    Err(e) if refusal(&e) => {
                        let reason = crate::error::chain(&e);
                        replayed.refusals.push(Refusal {
                            line,
                            what: record.describe(),
                            reason: reason.clone(),
                        });
                        kept.push(KeptRefusal {
                            spill: header.id,
                            line,
                            reason,
                            record,
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            replayed.refused = kept.len();
            replayed.runs = runs.len();
            batch.tx.execute(
                "INSERT INTO replayed_spills (spill_uuid, records, refused, replayed_at_us) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    header.id.to_string(),
                    i64::try_from(replayed.records).unwrap_or(i64::MAX),
                    i64::try_from(replayed.refused).unwrap_or(i64::MAX),
                    Timestamp::now()
                ],
            )?;
            // Kept before the commit: a crash between the two keeps them twice, never not at all.
            if !kept.is_empty() {
                let path = refused_path(spill);
                keep_refused(&path, &kept)?;
                replayed.refused_kept = Some(path);
            }
            batch.commit()?;
            replayed
        };
        std::fs::remove_file(spill).map_err(io)?;
        Ok(Some(replayed))
    }
}

/// Counts a record the store took.
fn count(
    replayed: &mut Replayed,
    runs: &mut std::collections::BTreeSet<RunId>,
    record: &SpillRecord,
) {
    match record {
        SpillRecord::Step {
            run, measurements, ..
        } => {
            runs.insert(*run);
            replayed.steps += 1;
            replayed.measurements += measurements.len();
        }
        SpillRecord::Artifact { run, .. } => {
            runs.insert(*run);
            replayed.artifacts += 1;
        }
        SpillRecord::End { run, .. } => {
            runs.insert(*run);
            replayed.ends += 1;
        }
        SpillRecord::Refused { refused, .. } => count(replayed, runs, refused),
    }
}

/// Appends `kept` to the file at `path`, durably.
fn keep_refused(path: &Path, kept: &[KeptRefusal]) -> Result<(), StoreError> {
    let io = |source| StoreError::Spill {
        path: path.to_owned(),
        source,
    };
    let mut text = Vec::new();
    for k in kept {
        serde_json::to_writer(&mut text, k).map_err(|e| io(e.into()))?;
        text.push(b'\n');
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    file.write_all(&text).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Whether the store refused a record on its merits (as it would have when it happened), rather
/// than failing to write it.
fn refusal(e: &StoreError) -> bool {
    match e {
        StoreError::UnknownRun(_)
        | StoreError::RunAlreadyEnded(_)
        | StoreError::DuplicateStep { .. }
        | StoreError::Invalid { .. } => true,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == ErrorCode::ConstraintViolation
        }
        _ => false,
    }
}
