//! Yield tallies and capability sums of one filter's runs, up to a run id: what the yield and
//! capability views need, small enough to keep between queries. Records are append-only and an
//! ended run never changes, so a summary of the runs up to an id stays true; later runs are
//! added to it (capability's sums merge in recording order, a unit's yield tally is taken away
//! and added again when a later attempt arrives), and the result equals one scan of them all.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::capability::{CapabilityRow, Group, row, sort};
use crate::rows::Run;
use crate::stats::Accumulator;
use crate::sums::GroupSums;
use crate::yields::{Dimension, Tally, YieldReport, report_of};

/// A capability group: measurement × generation × firmware × limit set.
type GroupKey = (Arc<str>, Arc<str>, Option<Arc<str>>, Arc<str>);

/// One yield cell: a scenario and the first attempt's keys in every [`Dimension`] (in the order
/// of [`Dimension::ALL`], numbered in `Summary::keys`), so any grouping is a sum of cells.
type CellKey = (Arc<str>, u32);

/// What a first attempt's keys depend on, cheaper to hash than the keys are to format for each
/// of a million units: its shared text columns and its 8-hour shift since the epoch.
type Place = (
    Arc<str>,
    Arc<str>,
    Option<Arc<str>>,
    Arc<str>,
    Arc<str>,
    Option<Arc<str>>,
    Arc<str>,
    i64,
);

/// Microseconds in a shift ([`Dimension::Shift`]'s S1 starts at midnight UTC).
const SHIFT_US: i64 = 8 * 3600 * 1_000_000;

/// The yield and capability views' state for one filter over the runs up to [`Summary::upto`].
#[derive(Debug, Clone, Default)]
pub struct Summary {
    upto: i64,
    cells: HashMap<CellKey, Tally>,
    keys: Vec<Vec<String>>,
    key_ids: HashMap<Vec<String>, u32>,
    places: HashMap<Place, u32>,
    groups: Vec<(GroupKey, Group)>,
    at: HashMap<GroupKey, usize>,
}

/// A group's description, from its first reading: unit, limits and marginal band.
#[derive(Debug, Clone, Default)]
pub(crate) struct Described {
    pub(crate) unit: Option<Arc<str>>,
    pub(crate) lsl: Option<f64>,
    pub(crate) usl: Option<f64>,
    pub(crate) marginal: (Option<f64>, Option<f64>),
}

impl Summary {
    /// The highest run id folded in; runs after it are not.
    pub fn upto(&self) -> i64 {
        self.upto
    }

    pub(crate) fn set_upto(&mut self, upto: i64) {
        self.upto = upto;
    }

    /// Adds (`sign` +1) or takes away (−1) one unit × scenario's tally, whose first selected
    /// attempt is `first`.
    pub(crate) fn add_tally(&mut self, first: &Run, tally: &Tally, sign: i64) {
        let place = (
            first.family.clone(),
            first.generation.clone(),
            first.firmware.clone(),
            first.station.clone(),
            first.rig.clone(),
            first.fixture.clone(),
            first.limits_sha256.clone(),
            first.started_at_us.div_euclid(SHIFT_US),
        );
        let id = match self.places.get(&place) {
            Some(&id) => id,
            None => {
                let id = self.key_id(Dimension::ALL.iter().map(|d| d.key(first)).collect());
                self.places.insert(place, id);
                id
            }
        };
        let key = (first.scenario.clone(), id);
        let cell = self.cells.entry(key.clone()).or_default();
        cell.add(tally, sign);
        if cell.is_empty() {
            self.cells.remove(&key);
        }
    }

    fn key_id(&mut self, keys: Vec<String>) -> u32 {
        if let Some(&id) = self.key_ids.get(&keys) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(keys.clone());
        self.key_ids.insert(keys, id);
        id
    }

    /// Merges sums of readings that follow every reading folded in so far (runs after
    /// [`Summary::upto`]); `describe` names the unit and limits of a group seen for the first
    /// time, from its first run.
    pub(crate) fn merge_sums<E>(
        &mut self,
        set: (&Arc<str>, &Option<Arc<str>>, &Arc<str>),
        sums: GroupSums,
        describe: &mut dyn FnMut(i64, &str) -> Result<Described, E>,
    ) -> Result<(), E> {
        let key: GroupKey = (
            sums.name.clone(),
            set.0.clone(),
            set.1.clone(),
            set.2.clone(),
        );
        if let Some(&i) = self.at.get(&key) {
            let group = &mut self.groups[i].1;
            group.acc.merge(&sums.acc);
            group.outside += sums.outside;
            return Ok(());
        }
        let d = describe(sums.first_run, &sums.name)?;
        self.at.insert(key.clone(), self.groups.len());
        self.groups.push((
            key,
            Group {
                acc: sums.acc,
                outside: sums.outside,
                unit: d.unit,
                lsl: d.lsl,
                usl: d.usl,
                marginal: d.marginal,
            },
        ));
        Ok(())
    }

    /// The yield view, as [`crate::yield_report`] computes it over the same runs.
    pub fn yield_report(&self, by: Dimension, chain: &[String]) -> YieldReport {
        let k = Dimension::ALL.iter().position(|d| *d == by).unwrap_or(0);
        let mut table: BTreeMap<(String, String), Tally> = BTreeMap::new();
        for ((scenario, id), tally) in &self.cells {
            let keys = self.keys.get(*id as usize);
            let group = keys
                .and_then(|keys| keys.get(k))
                .cloned()
                .unwrap_or_default();
            table
                .entry((scenario.to_string(), group))
                .or_default()
                .add(tally, 1);
        }
        report_of(table, by, chain)
    }

    /// The capability view, as [`crate::capability`] computes it over the same runs.
    pub fn capability(&self, name: Option<&str>) -> Vec<CapabilityRow> {
        let mut rows: Vec<CapabilityRow> = self
            .groups
            .iter()
            .filter(|((n, ..), _)| name.is_none_or(|want| **n == *want))
            .map(|((n, generation, firmware, limits), g)| {
                row(n, generation, firmware.as_deref(), limits, g)
            })
            .collect();
        sort(&mut rows);
        rows
    }
}

/// A summary as stored: texts once in a table, numbers as their bits, so that what is read back
/// is exactly what was written (JSON's decimal floats need not round-trip).
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    upto: i64,
    texts: Vec<String>,
    cells: Vec<(u32, Vec<u32>, Tally)>,
    groups: Vec<StoredGroup>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredGroup {
    key: (u32, u32, Option<u32>, u32),
    n: u64,
    mean: u64,
    m2: u64,
    first: Option<u64>,
    last: Option<u64>,
    mr_sum: u64,
    mr_n: u64,
    min: u64,
    max: u64,
    outside: u64,
    unit: Option<u32>,
    limits: [Option<u64>; 4],
}

#[derive(Default)]
struct Texts {
    list: Vec<String>,
    at: HashMap<String, u32>,
}

impl Texts {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.at.get(text) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(text.to_owned());
        self.at.insert(text.to_owned(), i);
        i
    }
}

/// Why stored bytes are not a summary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Undecodable {
    #[error("not a stored summary")]
    Json(#[from] serde_json::Error),
    #[error("text {0} out of range")]
    Text(u32),
    #[error("cell with {0} keys where {1} dimensions are")]
    Keys(usize, usize),
}

impl Summary {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut texts = Texts::default();
        let bits = |x: Option<f64>| x.map(f64::to_bits);
        let cells = self
            .cells
            .iter()
            .map(|((scenario, id), t)| {
                let keys = self.keys.get(*id as usize).map_or(&[][..], Vec::as_slice);
                let keys = keys.iter().map(|k| texts.id(k)).collect();
                (texts.id(scenario), keys, *t)
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|((name, generation, firmware, limits), g)| StoredGroup {
                key: (
                    texts.id(name),
                    texts.id(generation),
                    firmware.as_deref().map(|f| texts.id(f)),
                    texts.id(limits),
                ),
                n: g.acc.n,
                mean: g.acc.mean.to_bits(),
                m2: g.acc.m2.to_bits(),
                first: bits(g.acc.first),
                last: bits(g.acc.last),
                mr_sum: g.acc.mr_sum.to_bits(),
                mr_n: g.acc.mr_n,
                min: g.acc.min.to_bits(),
                max: g.acc.max.to_bits(),
                outside: g.outside,
                unit: g.unit.as_deref().map(|u| texts.id(u)),
                limits: [g.lsl, g.usl, g.marginal.0, g.marginal.1].map(bits),
            })
            .collect();
        serde_json::to_vec(&Stored {
            upto: self.upto,
            texts: texts.list,
            cells,
            groups,
        })
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Summary, Undecodable> {
        let stored: Stored = serde_json::from_slice(bytes)?;
        let texts: Vec<Arc<str>> = stored.texts.iter().map(|t| Arc::from(t.as_str())).collect();
        let text = |i: u32| texts.get(i as usize).cloned().ok_or(Undecodable::Text(i));
        let float = |b: Option<u64>| b.map(f64::from_bits);
        let mut summary = Summary {
            upto: stored.upto,
            ..Summary::default()
        };
        for (scenario, keys, tally) in stored.cells {
            if keys.len() != Dimension::ALL.len() {
                return Err(Undecodable::Keys(keys.len(), Dimension::ALL.len()));
            }
            let keys = keys
                .into_iter()
                .map(|k| text(k).map(|t| t.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let id = summary.key_id(keys);
            summary.cells.insert((text(scenario)?, id), tally);
        }
        for g in stored.groups {
            let firmware = g.key.2.map(text).transpose()?;
            let key = (text(g.key.0)?, text(g.key.1)?, firmware, text(g.key.3)?);
            let acc = Accumulator {
                n: g.n,
                mean: f64::from_bits(g.mean),
                m2: f64::from_bits(g.m2),
                first: float(g.first),
                last: float(g.last),
                mr_sum: f64::from_bits(g.mr_sum),
                mr_n: g.mr_n,
                min: f64::from_bits(g.min),
                max: f64::from_bits(g.max),
            };
            let [lsl, usl, marginal_low, marginal_high] = g.limits.map(float);
            summary.at.insert(key.clone(), summary.groups.len());
            summary.groups.push((
                key,
                Group {
                    acc,
                    outside: g.outside,
                    unit: g.unit.map(text).transpose()?,
                    lsl,
                    usl,
                    marginal: (marginal_low, marginal_high),
                },
            ));
        }
        Ok(summary)
    }
}
