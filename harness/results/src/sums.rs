//! Capability's running sums per measurement × run set, built from a stream of readings in
//! recording order. A source that scans its store in parts (one per core) builds one list per
//! part and merges them in order; the others build one list from their single scan.

use std::collections::HashMap;
use std::sync::Arc;

use crate::source::Reading;
use crate::stats::Accumulator;

/// The sums behind one capability row: one measurement over the runs of one set (a
/// generation × firmware × limit set, numbered by the caller).
#[derive(Debug, Clone)]
pub struct GroupSums {
    /// Measurement name.
    pub name: Arc<str>,
    /// The run set, as numbered in the `set_of` table the sums were built with.
    pub set: u32,
    /// Mean, spread and moving range of the readings, in recording order.
    pub acc: Accumulator,
    /// Readings whose recorded verdict was fail.
    pub outside: u64,
    /// The run of the group's first reading: its unit, limits and marginal band describe the
    /// group, and a lean scan leaves them out of every other row.
    pub first_run: i64,
}

/// Builds [`GroupSums`] from readings in recording order.
#[derive(Debug)]
pub struct SumsBuilder<'a> {
    set_of: &'a [u32],
    // by_name[reading.name_index][set] → position in `found`; arrays, not a map, because this
    // runs once for each of millions of readings.
    by_name: Vec<Vec<u32>>,
    found: Vec<GroupSums>,
}

impl<'a> SumsBuilder<'a> {
    /// A builder for readings of runs whose set is `set_of[run_position]`.
    pub fn new(set_of: &'a [u32]) -> Self {
        SumsBuilder {
            set_of,
            by_name: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Adds the next reading; one whose run position has no set is ignored.
    pub fn push(&mut self, r: &Reading<'_>) {
        let Some(&set) = self.set_of.get(r.run_position) else {
            return;
        };
        let name = r.name_index as usize;
        if self.by_name.len() <= name {
            self.by_name.resize_with(name + 1, Vec::new);
        }
        let sets = &mut self.by_name[name];
        if sets.len() <= set as usize {
            sets.resize(set as usize + 1, u32::MAX);
        }
        if sets[set as usize] == u32::MAX {
            sets[set as usize] = self.found.len() as u32;
            self.found.push(GroupSums {
                name: r.name.clone(),
                set,
                acc: Accumulator::default(),
                outside: 0,
                first_run: r.run_id,
            });
        }
        let group = &mut self.found[sets[set as usize] as usize];
        group.acc.push(r.value);
        group.outside += u64::from(r.failed);
    }

    /// The sums, in order of each group's first reading.
    pub fn finish(self) -> Vec<GroupSums> {
        self.found
    }
}

/// Merges the sums of consecutive parts of one scan, `parts` in recording order, into the sums
/// one scan of them all would have built (equal up to rounding, see [`Accumulator::merge`]).
pub fn merge_parts(parts: Vec<Vec<GroupSums>>) -> Vec<GroupSums> {
    let mut merged: Vec<GroupSums> = Vec::new();
    let mut at: HashMap<(Arc<str>, u32), usize> = HashMap::new();
    for part in parts {
        for sums in part {
            match at.get(&(sums.name.clone(), sums.set)) {
                Some(&i) => {
                    let into = &mut merged[i];
                    into.acc.merge(&sums.acc);
                    into.outside += sums.outside;
                }
                None => {
                    at.insert((sums.name.clone(), sums.set), merged.len());
                    merged.push(sums);
                }
            }
        }
    }
    merged
}
