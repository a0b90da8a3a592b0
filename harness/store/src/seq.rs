//! Each open run's next measurement position, kept per connection so a measurement's record is
//! one insert rather than a `max(seq)` lookup and an insert.
//!
//! The positions are only as good as what this connection last committed: another connection
//! (another slot's process, a spill replay) may have recorded measurements of the same run
//! since. SQLite's `data_version` changes exactly when another connection commits, so a batch
//! that sees it changed forgets every position and asks the file again. A batch works on its
//! own copy and hands it back only when it commits, so a rolled-back record leaves no gap.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::types::RunId;

/// The next measurement position in a run, from the file.
pub(crate) const NEXT_SEQ: &str =
    "SELECT coalesce(max(seq) + 1, 0) FROM measurements WHERE run_id = ?1";

/// Runs' next measurement positions as this connection committed them.
#[derive(Debug, Default)]
pub(crate) struct NextSeq {
    /// `PRAGMA data_version` when these were known: a change means another connection wrote.
    data_version: i64,
    next: HashMap<RunId, i64>,
}

impl NextSeq {
    /// The positions still valid in `tx` (a transaction that holds the write lock, so nobody
    /// else writes until it ends).
    pub(crate) fn checked(mut self, tx: &Connection) -> Result<Self, StoreError> {
        let version: i64 = tx
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if version != self.data_version {
            self.next.clear();
            self.data_version = version;
        }
        Ok(self)
    }

    /// The next position in `run`.
    pub(crate) fn get(&self, tx: &Connection, run: RunId) -> Result<i64, StoreError> {
        match self.next.get(&run) {
            Some(next) => Ok(*next),
            None => Ok(tx
                .prepare_cached(NEXT_SEQ)?
                .query_row([run], |row| row.get(0))?),
        }
    }

    /// `run`'s measurements up to `next` are recorded (in the batch).
    pub(crate) fn recorded(&mut self, run: RunId, next: i64) {
        self.next.insert(run, next);
    }

    /// `run` has ended: no measurement follows.
    pub(crate) fn ended(&mut self, run: RunId) {
        self.next.remove(&run);
    }
}

#[cfg(test)]
mod tests {
    use crate::input::{Limits, MeasurementRecord};
    use crate::record::tests::start;
    use crate::types::{MeasurementOutcome, Timestamp};
    use crate::{RunId, Store};

    fn measurement(name: &str) -> MeasurementRecord {
        MeasurementRecord {
            step_index: 0,
            name: name.to_owned(),
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
        }
    }

    fn seqs(store: &Store, run: RunId) -> Vec<(i64, String)> {
        let mut stmt = store
            .conn
            .prepare("SELECT seq, name FROM measurements WHERE run_id = ?1 ORDER BY seq")
            .unwrap();
        stmt.query_map([run], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn positions_follow_what_another_connection_recorded_in_the_same_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rigor.db");
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        let run = a.begin_run(&start()).unwrap().id;
        a.record_measurement(run, &measurement("a0")).unwrap();
        b.record_measurement(run, &measurement("b1")).unwrap();
        a.record_measurement(run, &measurement("a2")).unwrap();
        let expected = [(0, "a0"), (1, "b1"), (2, "a2")].map(|(s, n)| (s, n.to_owned()));
        assert_eq!(seqs(&a, run), expected);
    }

    #[test]
    fn a_batch_dropped_uncommitted_leaves_no_gap() {
        let mut store = Store::open_in_memory().unwrap();
        let run = store.begin_run(&start()).unwrap().id;
        store.record_measurement(run, &measurement("m0")).unwrap();
        let mut batch = store.all_or_nothing_batch().unwrap();
        batch.record_measurement(run, &measurement("lost")).unwrap();
        drop(batch);
        store.record_measurement(run, &measurement("m1")).unwrap();
        let expected = [(0, "m0"), (1, "m1")].map(|(s, n)| (s, n.to_owned()));
        assert_eq!(seqs(&store, run), expected);
    }
}
