//! Bringing a [`Summary`] forward over the runs recorded after it: the yield tallies of the
//! units those runs belong to are taken away and added again with every attempt, and the
//! capability sums of their readings merge after the ones already folded in.

use rusqlite::params;

use super::SqliteSource;
use crate::error::ResultsError;
use crate::filter::Filter;
use crate::rows::{Run, Runs};
use crate::source::Source;
use crate::summary::{Described, Summary};
use crate::yields::tally;

impl SqliteSource {
    /// Folds the runs `filter` selects with ids after `summary.upto()` and up to `upto` into
    /// `summary`.
    pub(super) fn extend(
        &self,
        summary: &mut Summary,
        filter: &Filter,
        upto: i64,
    ) -> Result<(), ResultsError> {
        let after = summary.upto();
        let mut list =
            self.select_runs(filter, " AND r.id > ?12 AND r.id <= ?13", &[&after, &upto])?;
        list.sort_by_key(|r| (r.started_at_us, r.id));
        let tail = Runs::new(list);
        for attempts in tail.by_unit_scenario() {
            let Some(first) = attempts.first() else {
                continue;
            };
            // A unit retested after the summary was made: its earlier attempts' tally comes
            // out, and the tally of all its attempts goes in. Nothing is folded in below id 1.
            let earlier = if after > 0 {
                self.select_runs(
                    filter,
                    " AND r.unit_serial = ?12 AND r.scenario_name = ?13 AND r.id <= ?14",
                    &[&first.serial, &&*first.scenario, &after],
                )?
            } else {
                Vec::new()
            };
            let mut old: Vec<&Run> = earlier.iter().collect();
            old.sort_by_key(|r| r.attempt);
            if let Some((f, t)) = tally(&old) {
                summary.add_tally(f, &t, -1);
            }
            old.extend(attempts.iter().copied());
            old.sort_by_key(|r| r.attempt);
            if let Some((f, t)) = tally(&old) {
                summary.add_tally(f, &t, 1);
            }
        }
        let (sets, set_of) = crate::capability::number_sets(&tail);
        let found = self.value_sums(&tail, None, &set_of)?;
        for sums in found {
            let Some(set) = sets.get(sums.set as usize) else {
                continue;
            };
            summary.merge_sums((&set.0, &set.1, &set.2), sums, &mut |run_id, name| {
                self.describe(run_id, name)
            })?;
        }
        summary.set_upto(upto);
        Ok(())
    }

    /// The unit, limits and marginal band of `name`'s first numeric reading in run `run_id`.
    fn describe(&self, run_id: i64, name: &str) -> Result<Described, ResultsError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT unit, low, high, marginal_low, marginal_high FROM measurements \
             WHERE run_id = ?1 AND name = ?2 AND value IS NOT NULL ORDER BY seq LIMIT 1",
        )?;
        let mut rows = stmt.query(params![run_id, name])?;
        let Some(row) = rows.next()? else {
            return Ok(Described::default());
        };
        let unit: Option<String> = row.get(0)?;
        Ok(Described {
            unit: unit.map(|u| self.interner.borrow_mut().get(&u)),
            lsl: row.get(1)?,
            usl: row.get(2)?,
            marginal: (row.get(3)?, row.get(4)?),
        })
    }
}
