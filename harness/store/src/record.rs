//! Writing a run: its start, steps, measurements and end. Each `Store` call is one immediate
//! transaction, committed before it returns, so a killed process keeps every finished record; a
//! [`Batch`] groups the records of many calls (and many slots) into one commit.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::held::Held;
use crate::input::{FixtureUse, MeasurementRecord, RunEnd, RunStart, StepRecord};
use crate::seq::NextSeq;
use crate::store::Store;
use crate::types::RunId;

/// The next attempt number of a unit × scenario name.
const NEXT_ATTEMPT: &str = "SELECT coalesce(max(attempt), 0) + 1 FROM runs \
     WHERE unit_serial = ?1 AND scenario_name = ?2";

/// The count of a fixture that does not count itself: the highest recorded for it in its rig
/// slot (each slot holds its own physical fixture), plus one if the unit differs from the one
/// its last run tested. Several scenarios on one unit are one insertion.
const NEXT_INSERTION: &str = "SELECT coalesce(max(fixture_insertions), 0) + \
     CASE WHEN (SELECT unit_serial FROM runs WHERE rig = ?1 AND slot = ?2 AND fixture_id = ?3 \
                ORDER BY id DESC LIMIT 1) IS ?4 THEN 0 ELSE 1 END \
     FROM runs WHERE rig = ?1 AND slot = ?2 AND fixture_id = ?3";

/// A started run: its id and its attempt number for this unit × scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunHandle {
    /// The run's id.
    pub id: RunId,
    /// 1 for the unit's first run of this scenario name, then 2, 3, … counting every attempt.
    pub attempt: u32,
}

impl Store {
    /// Records a run's start: the unit on its first sighting, then a `runs` row whose attempt
    /// number is computed in the same transaction (highest attempt for this unit × scenario
    /// name, plus one), so concurrent slots never share a number.
    pub fn begin_run(&mut self, start: &RunStart) -> Result<RunHandle, StoreError> {
        let mut batch = self.batch()?;
        let handle = batch.begin_run(start)?;
        batch.commit()?;
        Ok(handle)
    }

    /// Records a finished step of an open run.
    pub fn record_step(&mut self, run: RunId, step: &StepRecord) -> Result<(), StoreError> {
        self.record_step_with_measurements(run, step, &[])
    }

    /// Records one judged measurement of an open run.
    pub fn record_measurement(
        &mut self,
        run: RunId,
        measurement: &MeasurementRecord,
    ) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.record_measurement(run, measurement)?;
        batch.commit()
    }

    /// Records a finished step and the measurements it took in one transaction: one commit
    /// (the bulk of a record's cost) for the whole step, all or nothing.
    pub fn record_step_with_measurements(
        &mut self,
        run: RunId,
        step: &StepRecord,
        measurements: &[MeasurementRecord],
    ) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.record_step_with_measurements(run, step, measurements)?;
        batch.commit()
    }

    /// Records a run's end as a new `run_ends` row. A run ends once: a second end is
    /// [`StoreError::RunAlreadyEnded`].
    pub fn end_run(&mut self, run: RunId, end: &RunEnd) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.end_run(run, end)?;
        batch.commit()
    }

    /// Starts a group of records committed together: one commit (the bulk of a record's cost,
    /// and all of its fsync under [`crate::Durability::PowerLoss`]) for everything a station's
    /// slots recorded meanwhile. The transaction takes the write lock at once (waiting up to the
    /// busy timeout), so a read-then-write never has to upgrade and deadlock with another
    /// process. Dropping the batch without [`Batch::commit`] records none of it.
    pub fn batch(&mut self) -> Result<Batch<'_>, StoreError> {
        self.batch_in(Mode::Isolated)
    }

    /// As [`Store::batch`], but a refused record spoils the whole batch: it then refuses every
    /// further record and its commit ([`StoreError::BatchFailed`]), and dropping it records none
    /// of it. Records need no savepoint and no checks ahead of the schema's own (its triggers
    /// and foreign keys refuse the same records), which halves a record's cost; a writer that
    /// hits an error writes the group again through [`Store::batch`] to learn which record was
    /// refused and why, and to keep the others.
    pub fn all_or_nothing_batch(&mut self) -> Result<Batch<'_>, StoreError> {
        self.batch_in(Mode::AllOrNothing { failed: false })
    }

    fn batch_in(&mut self, mode: Mode) -> Result<Batch<'_>, StoreError> {
        let Store { conn, next_seq } = self;
        // Shared for the batch's life, so its held statements and its transaction can both use
        // it; the `&mut self` borrow still keeps a second batch from starting meanwhile.
        let conn: &Connection = conn;
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        // Taken for the batch, given back by its commit: a batch dropped or failed leaves none,
        // and the next asks the file.
        let seqs = std::mem::take(next_seq).checked(&tx)?;
        Ok(Batch {
            held: Held::new(conn),
            tx,
            mode,
            seqs,
            committed_seqs: next_seq,
        })
    }
}

/// How a batch's records stand on their own.
enum Mode {
    /// Each record in a savepoint, checked first for a typed error.
    Isolated,
    /// No savepoint; `failed` once a record was refused.
    AllOrNothing { failed: bool },
}

/// Records written in one transaction (see [`Store::batch`]). Each call is all or nothing on its
/// own: a refused record (a duplicate step, a run already ended) leaves the batch's other
/// records as they were, so one slot's bad record never costs another slot its records.
pub struct Batch<'s> {
    /// Before `tx`, so the statements go back to the cache before the transaction ends.
    held: Held<'s>,
    pub(crate) tx: Transaction<'s>,
    mode: Mode,
    /// Each run's next measurement position, with this batch's records.
    seqs: NextSeq,
    /// Where `seqs` go once committed.
    committed_seqs: &'s mut NextSeq,
}

impl<'s> Batch<'s> {
    /// Runs `write` in a savepoint, rolled back alone if it fails; in an all-or-nothing batch,
    /// runs it as it is and marks the batch failed if it fails. `write` is told whether to check
    /// ahead of the schema (for a typed error), and gets the batch's held statements.
    fn isolated<T>(
        &mut self,
        write: impl FnOnce(&Connection, &mut Held<'s>, bool) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &mut self.mode {
            Mode::Isolated => {
                let sp = self.tx.savepoint()?;
                let out = write(&sp, &mut self.held, true)?;
                sp.commit()?;
                Ok(out)
            }
            Mode::AllOrNothing { failed: true } => Err(StoreError::BatchFailed),
            Mode::AllOrNothing { failed } => {
                let out = write(&self.tx, &mut self.held, false);
                *failed = out.is_err();
                out
            }
        }
    }

    /// As [`Store::begin_run`], within the batch.
    pub fn begin_run(&mut self, start: &RunStart) -> Result<RunHandle, StoreError> {
        start.validate()?;
        self.isolated(|tx, _, _| begin_run(tx, start))
    }

    /// As [`Store::record_measurement`], within the batch.
    pub fn record_measurement(
        &mut self,
        run: RunId,
        measurement: &MeasurementRecord,
    ) -> Result<(), StoreError> {
        measurement.validate()?;
        let seq = self.seqs.get(&self.tx, run)?;
        self.isolated(|tx, held, check| {
            if check {
                require_open_run(tx, run)?;
            }
            held.insert_measurement(run, seq, measurement)
        })?;
        self.seqs.recorded(run, seq + 1);
        Ok(())
    }

    /// As [`Store::record_step_with_measurements`], within the batch.
    pub fn record_step_with_measurements(
        &mut self,
        run: RunId,
        step: &StepRecord,
        measurements: &[MeasurementRecord],
    ) -> Result<(), StoreError> {
        for measurement in measurements {
            measurement.validate()?;
        }
        let first = if measurements.is_empty() {
            0
        } else {
            self.seqs.get(&self.tx, run)?
        };
        let mut next = first;
        self.isolated(|tx, held, check| {
            if check {
                require_open_run(tx, run)?;
                require_new_step(tx, run, step.index)?;
            }
            held.insert_step(run, step)?;
            for measurement in measurements {
                held.insert_measurement(run, next, measurement)?;
                next += 1;
            }
            Ok(())
        })?;
        if next > first {
            self.seqs.recorded(run, next);
        }
        Ok(())
    }

    /// As [`Store::store_artifact`], within the batch.
    pub fn store_artifact(
        &mut self,
        run: RunId,
        step_index: Option<u32>,
        name: &str,
        media_type: &str,
        content: &[u8],
    ) -> Result<String, StoreError> {
        crate::artifact::validate(name, media_type)?;
        self.isolated(|tx, _, _| {
            crate::artifact::insert(tx, run, step_index, name, media_type, content)
        })
    }

    /// As [`Store::end_run`], within the batch.
    pub fn end_run(&mut self, run: RunId, end: &RunEnd) -> Result<(), StoreError> {
        end.validate()?;
        self.isolated(|tx, _, check| {
            if check {
                require_open_run(tx, run)?;
            }
            tx.prepare_cached(
                "INSERT INTO run_ends (run_id, ended_at_us, outcome, failure_class, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                run,
                end.ended_at,
                end.outcome,
                end.failure_class,
                end.message
            ])?;
            Ok(())
        })?;
        self.seqs.ended(run);
        Ok(())
    }

    /// Commits everything the batch holds; an all-or-nothing batch with a failed record
    /// commits nothing and says so.
    pub fn commit(self) -> Result<(), StoreError> {
        if let Mode::AllOrNothing { failed: true } = self.mode {
            return Err(StoreError::BatchFailed);
        }
        self.tx.commit()?;
        *self.committed_seqs = self.seqs;
        Ok(())
    }
}

fn begin_run(tx: &Connection, start: &RunStart) -> Result<RunHandle, StoreError> {
    record_unit(tx, start)?;
    let attempt: u32 = tx
        .prepare_cached(NEXT_ATTEMPT)?
        .query_row(params![start.unit.serial, start.scenario.name], |row| {
            row.get(0)
        })?;
    let fixture = start.fixture.as_ref();
    let insertions = match fixture {
        Some(FixtureUse {
            insertions: Some(n),
            ..
        }) => Some(*n),
        Some(FixtureUse {
            id,
            insertions: None,
        }) => Some(tx.prepare_cached(NEXT_INSERTION)?.query_row(
            params![start.rig, start.slot, id, start.unit.serial],
            |row| row.get(0),
        )?),
        None => None,
    };
    let firmware = start.firmware.as_ref();
    tx.prepare_cached(
        "INSERT INTO runs (unit_serial, scenario_name, scenario_version, scenario_sha256, \
         attempt, station, rig, slot, fixture_id, fixture_insertions, operator, \
         firmware_sha256, firmware_version, limits_sha256, started_at_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        start.unit.serial,
        start.scenario.name,
        start.scenario.version,
        start.scenario.sha256,
        attempt,
        start.station,
        start.rig,
        start.slot,
        fixture.map(|f| &f.id),
        insertions,
        start.operator,
        firmware.map(|f| &f.sha256),
        firmware.and_then(|f| f.version.as_ref()),
        start.limits_sha256,
        start.started_at,
    ])?;
    let id = RunId(tx.last_insert_rowid());
    if let Some(session) = &start.session {
        tx.prepare_cached(
            "INSERT INTO run_sessions (run_id, session_id, role) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, session.id, session.role])?;
    }
    // A trigger gives the run its UUID (see `schema`).
    Ok(RunHandle { id, attempt })
}

/// Fails if `run` already has a step at `index` (the schema refuses it too, untyped).
fn require_new_step(tx: &Connection, run: RunId, index: u32) -> Result<(), StoreError> {
    let exists: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM steps WHERE run_id = ?1 AND step_index = ?2)",
        )?
        .query_row(params![run, index], |row| row.get(0))?;
    if exists {
        return Err(StoreError::DuplicateStep { run, index });
    }
    Ok(())
}

/// Inserts the unit on its first sighting; refuses a changed family or generation.
fn record_unit(tx: &Connection, start: &RunStart) -> Result<(), StoreError> {
    let unit = &start.unit;
    let recorded: Option<(String, String)> = tx
        .prepare_cached("SELECT family, generation FROM units WHERE serial = ?1")?
        .query_row([&unit.serial], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match recorded {
        None => {
            tx.prepare_cached(
                "INSERT INTO units (serial, family, generation, first_seen_us) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                unit.serial,
                unit.family,
                unit.generation,
                start.started_at
            ])?;
            Ok(())
        }
        Some((family, generation)) if family == unit.family && generation == unit.generation => {
            Ok(())
        }
        Some((recorded_family, recorded_generation)) => Err(StoreError::UnitMismatch {
            serial: unit.serial.clone(),
            recorded_family,
            recorded_generation,
            family: unit.family.clone(),
            generation: unit.generation.clone(),
        }),
    }
}

/// Fails unless `run` exists and has no end row.
pub(crate) fn require_open_run(tx: &Connection, run: RunId) -> Result<(), StoreError> {
    let ended: Option<bool> = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM run_ends WHERE run_id = ?1) FROM runs WHERE id = ?1",
        )?
        .query_row([run], |row| row.get(0))
        .optional()?;
    match ended {
        None => Err(StoreError::UnknownRun(run)),
        Some(true) => Err(StoreError::RunAlreadyEnded(run)),
        Some(false) => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rusqlite::StatementStatus;

    use super::*;
    use crate::input::{Limits, RunEnd, ScenarioRef, UnitIdentity};
    use crate::seq::NEXT_SEQ;
    use crate::types::{MeasurementOutcome, Timestamp};

    /// A run of one unit, for the store's unit tests.
    pub(crate) fn start() -> RunStart {
        RunStart {
            unit: UnitIdentity {
                serial: "SN1".to_owned(),
                family: "f".to_owned(),
                generation: "g".to_owned(),
            },
            scenario: ScenarioRef {
                name: "boot".to_owned(),
                version: "1".to_owned(),
                sha256: "a".repeat(64),
            },
            station: "s".to_owned(),
            rig: "r".to_owned(),
            slot: "1".to_owned(),
            fixture: None,
            operator: "o".to_owned(),
            firmware: None,
            limits_sha256: "b".repeat(64),
            session: None,
            started_at: Timestamp(0),
        }
    }

    fn step(index: u32) -> StepRecord {
        StepRecord {
            index,
            step_id: format!("s{index}"),
            kind: "wait".to_owned(),
            attempt: 1,
            started_at: Timestamp(0),
            ended_at: Timestamp(1),
            outcome: crate::types::StepOutcome::Pass,
            message: None,
        }
    }

    fn steps(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM steps", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_all_or_nothing_batch_with_a_refused_record_commits_none_of_it() {
        let mut store = Store::open_in_memory().unwrap();
        let run = store.begin_run(&start()).unwrap().id;
        store.record_step(run, &step(0)).unwrap();
        let mut batch = store.all_or_nothing_batch().unwrap();
        batch
            .record_step_with_measurements(run, &step(1), &[])
            .unwrap();
        // Refused by the schema alone (no check ahead of it in this mode).
        let err = batch.record_step_with_measurements(run, &step(0), &[]);
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("step already recorded")
        );
        let err = batch.record_step_with_measurements(run, &step(2), &[]);
        assert!(matches!(err, Err(StoreError::BatchFailed)), "{err:?}");
        assert!(matches!(batch.commit(), Err(StoreError::BatchFailed)));
        assert_eq!(steps(&store), 1);

        // The same group, each record on its own: the good ones are kept, the bad one is typed.
        let mut batch = store.batch().unwrap();
        batch
            .record_step_with_measurements(run, &step(1), &[])
            .unwrap();
        let err = batch.record_step_with_measurements(run, &step(0), &[]);
        assert!(
            matches!(err, Err(StoreError::DuplicateStep { index: 0, .. })),
            "{err:?}"
        );
        batch
            .record_step_with_measurements(run, &step(2), &[])
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(steps(&store), 3);
    }

    #[test]
    fn the_schema_refuses_in_an_all_or_nothing_batch_what_the_checks_refuse_in_a_batch() {
        let mut store = Store::open_in_memory().unwrap();
        let run = store.begin_run(&start()).unwrap().id;
        let end = RunEnd {
            ended_at: Timestamp(2),
            outcome: crate::types::RunOutcome::Pass,
            failure_class: None,
            message: None,
        };
        store.end_run(run, &end).unwrap();
        for bad in [run, RunId(run.0 + 100)] {
            let mut batch = store.all_or_nothing_batch().unwrap();
            assert!(
                batch
                    .record_step_with_measurements(bad, &step(0), &[])
                    .is_err()
            );
            drop(batch);
            let mut batch = store.all_or_nothing_batch().unwrap();
            assert!(batch.end_run(bad, &end).is_err());
        }
        assert_eq!(steps(&store), 0);
    }

    /// Regression: under the bundled SQLite's STAT4, the key-prefix lookups of the hot path were
    /// prepared again on every call, doubling a record's cost, until the store turned on the
    /// query planner stability guarantee.
    #[test]
    fn hot_path_statements_are_not_prepared_again_per_call() {
        let mut store = Store::open_in_memory().unwrap();
        let run = store.begin_run(&start()).unwrap();
        store.begin_run(&start()).unwrap();
        let m = MeasurementRecord {
            step_index: 0,
            name: "v".to_owned(),
            value: Some(1.0),
            text_value: None,
            unit: None,
            limits: Limits {
                comparator: "any".to_owned(),
                low: None,
                low_inclusive: true,
                high: None,
                high_inclusive: true,
                marginal_low: None,
                marginal_high: None,
            },
            marginal: false,
            outcome: MeasurementOutcome::Pass,
            measured_at: Timestamp(0),
        };
        for _ in 0..3 {
            store.record_measurement(run.id, &m).unwrap();
        }
        for sql in [NEXT_ATTEMPT, NEXT_SEQ] {
            let stmt = store.conn.prepare_cached(sql).unwrap();
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0, "{sql}");
        }
    }
}
