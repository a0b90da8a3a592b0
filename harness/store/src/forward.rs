//! Store-and-forward state, kept in the station store so it survives any crash: which runs a
//! central store already holds (the high-water mark, `forwarded_runs`) and how each forwarding
//! pass went (`forward_attempts`). Both are append-only logs.
//!
//! A target is named by the caller (the central store's address without credentials). A run is
//! marked forwarded only once it has ended and its end has reached the target; a run still open
//! is sent again on later passes (the central store skips the rows it already has) until its
//! end goes up with it. A run whose process died stays open: it is sent while it is among the
//! most recent open runs, and counted as open by [`Store::forward_status`].

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::error::StoreError;
use crate::store::Store;
use crate::types::{RunId, Timestamp};

/// How far forwarding to one target has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardStatus {
    /// The target.
    pub target: String,
    /// Ended runs the target does not hold yet.
    pub pending: u64,
    /// Runs without an end (still running, or their process died); sent as they are.
    pub open: u64,
    /// When the oldest ended run not yet forwarded started.
    pub oldest_pending: Option<Timestamp>,
    /// The last pass that succeeded.
    pub last_success: Option<Timestamp>,
    /// The last pass that failed, and why, if it came after the last success.
    pub last_error: Option<(Timestamp, String)>,
}

impl Store {
    /// Up to `ended` ended runs that `target` does not hold (oldest first), then up to `open`
    /// of the most recent runs without an end, which are sent as far as they have got.
    pub fn runs_to_forward(
        &self,
        target: &str,
        ended: usize,
        open: usize,
    ) -> Result<Vec<RunId>, StoreError> {
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let mut runs: Vec<RunId> = self
            .conn
            .prepare_cached(
                "SELECT e.run_id FROM run_ends AS e \
                 WHERE NOT EXISTS (SELECT 1 FROM forwarded_runs AS f \
                                   WHERE f.target = ?1 AND f.run_id = e.run_id) \
                 ORDER BY e.run_id LIMIT ?2",
            )?
            .query_map(params![target, limit(ended)], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let still_open: Vec<RunId> = self
            .conn
            .prepare_cached(
                "SELECT r.id FROM runs AS r \
                 WHERE NOT EXISTS (SELECT 1 FROM run_ends AS e WHERE e.run_id = r.id) \
                 ORDER BY r.id DESC LIMIT ?1",
            )?
            .query_map(params![limit(open)], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        runs.extend(still_open);
        runs.sort();
        Ok(runs)
    }

    /// Records that `target` now holds `runs` (each of which has ended) in full.
    pub fn mark_forwarded(&mut self, target: &str, runs: &[RunId]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO forwarded_runs (target, run_id, forwarded_at_us) \
                 VALUES (?1, ?2, ?3)",
            )?;
            let now = Timestamp::now();
            for run in runs {
                insert.execute(params![target, run, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Logs a forwarding pass to `target`: how many runs it sent, or why it failed.
    pub fn record_forward_attempt(
        &mut self,
        target: &str,
        runs: usize,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO forward_attempts (target, at_us, runs, error) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                target,
                Timestamp::now(),
                i64::try_from(runs).unwrap_or(i64::MAX),
                error
            ])?;
        Ok(())
    }

    /// Every target this store has forwarded to, or tried to.
    pub fn forward_targets(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT target FROM forward_attempts UNION SELECT target FROM forwarded_runs \
             ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How far forwarding to `target` has got.
    pub fn forward_status(&self, target: &str) -> Result<ForwardStatus, StoreError> {
        let (pending, oldest): (i64, Option<Timestamp>) = self.conn.query_row(
            "SELECT count(*), min(r.started_at_us) FROM runs AS r JOIN run_ends AS e \
             ON e.run_id = r.id WHERE NOT EXISTS (SELECT 1 FROM forwarded_runs AS f \
             WHERE f.target = ?1 AND f.run_id = r.id)",
            [target],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let open: i64 = self.conn.query_row(
            "SELECT count(*) FROM runs AS r \
             WHERE NOT EXISTS (SELECT 1 FROM run_ends AS e WHERE e.run_id = r.id)",
            [],
            |row| row.get(0),
        )?;
        let last_success: Option<Timestamp> = self.conn.query_row(
            "SELECT max(at_us) FROM forward_attempts WHERE target = ?1 AND error IS NULL",
            [target],
            |row| row.get(0),
        )?;
        let last_error = self
            .conn
            .query_row(
                "SELECT at_us, error FROM forward_attempts WHERE target = ?1 \
                 AND error IS NOT NULL AND at_us >= coalesce(?2, 0) ORDER BY id DESC LIMIT 1",
                params![target, last_success],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        Ok(ForwardStatus {
            target: target.to_owned(),
            pending: pending.unsigned_abs(),
            open: open.unsigned_abs(),
            oldest_pending: oldest,
            last_success,
            last_error,
        })
    }
}
