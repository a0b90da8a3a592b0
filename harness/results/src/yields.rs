//! Yield: first-pass, final, and rolled throughput over a chain of scenarios, by a dimension.
//!
//! A unit's attempts at a scenario are judged only when they say something about the device
//! ([`Run::judges_device`]): a pass, or a failure classed `device`. Infrastructure failures
//! (rig, fixture, instrument), scenario faults, unclassified aborts and incomplete runs are
//! counted beside the yield and never against the device: a unit whose first attempt lost its
//! probe and whose second passed is a first-pass unit.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rows::{Run, Runs};
use crate::timefmt;

/// What to group yield by, beside the scenario. A unit × scenario belongs to the group of its
/// first attempt (its station, its day, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    /// All units together.
    All,
    /// Unit family.
    Family,
    /// Unit generation.
    Generation,
    /// Firmware version.
    Firmware,
    /// Station.
    Station,
    /// Rig.
    Rig,
    /// Fixture id.
    Fixture,
    /// Bound limit set (first 12 digits of its SHA-256).
    Limits,
    /// UTC day of the first attempt.
    Day,
    /// UTC day and 8-hour shift (S1 00–08, S2 08–16, S3 16–24) of the first attempt.
    Shift,
}

impl Dimension {
    /// Every dimension, for the CLI's choices.
    pub const ALL: &'static [Dimension] = &[
        Dimension::All,
        Dimension::Family,
        Dimension::Generation,
        Dimension::Firmware,
        Dimension::Station,
        Dimension::Rig,
        Dimension::Fixture,
        Dimension::Limits,
        Dimension::Day,
        Dimension::Shift,
    ];

    /// The dimension's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Family => "family",
            Dimension::Generation => "generation",
            Dimension::Firmware => "firmware",
            Dimension::Station => "station",
            Dimension::Rig => "rig",
            Dimension::Fixture => "fixture",
            Dimension::Limits => "limits",
            Dimension::Day => "day",
            Dimension::Shift => "shift",
        }
    }

    /// The group `run` belongs to.
    pub fn key(self, run: &Run) -> String {
        let or_none = |v: &Option<std::sync::Arc<str>>| v.as_deref().unwrap_or("-").to_owned();
        match self {
            Dimension::All => "all".to_owned(),
            Dimension::Family => run.family.to_string(),
            Dimension::Generation => run.generation.to_string(),
            Dimension::Firmware => or_none(&run.firmware),
            Dimension::Station => run.station.to_string(),
            Dimension::Rig => run.rig.to_string(),
            Dimension::Fixture => or_none(&run.fixture),
            Dimension::Limits => run.limits_sha256.chars().take(12).collect(),
            Dimension::Day => timefmt::day(run.started_at_us),
            Dimension::Shift => timefmt::shift(run.started_at_us),
        }
    }
}

/// Yield of one scenario in one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YieldRow {
    /// Scenario name.
    pub scenario: String,
    /// The group (see [`Dimension`]).
    pub group: String,
    /// Units with at least one ended attempt.
    pub units: u64,
    /// Units with at least one attempt that judged the device: the yields' denominator.
    pub judged: u64,
    /// Units whose first judged attempt passed.
    pub first_pass: u64,
    /// Units that passed at some attempt.
    pub final_pass: u64,
    /// `first_pass / judged`.
    pub first_pass_yield: Option<f64>,
    /// `final_pass / judged`.
    pub final_yield: Option<f64>,
    /// Attempts that ended in an infrastructure failure (not held against any unit).
    pub infrastructure_runs: u64,
    /// Units whose ended attempts never judged the device (infrastructure, scenario, aborts).
    pub unjudged: u64,
}

/// Rolled throughput yield of one group over a chain of scenarios: the product of their
/// first-pass yields, the chance a unit goes through the whole chain without a retest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RtyRow {
    /// The group.
    pub group: String,
    /// The chain, in order.
    pub chain: Vec<String>,
    /// Each scenario's first-pass yield in this group; `None` where nothing was judged.
    pub first_pass_yields: Vec<Option<f64>>,
    /// Their product; `None` when any is missing.
    pub rolled_throughput_yield: Option<f64>,
}

/// The yield view: per scenario × group rows, and the rolled throughput yield over `chain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YieldReport {
    /// Grouping dimension.
    pub by: Dimension,
    /// Rows sorted by scenario, then group.
    pub rows: Vec<YieldRow>,
    /// One row per group when a chain was given.
    pub rolled: Vec<RtyRow>,
}

/// What one unit × scenario adds to its group's yield row: the counts a cache can add and
/// take away again when a later attempt arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub(crate) struct Tally {
    pub(crate) units: i64,
    pub(crate) judged: i64,
    pub(crate) first_pass: i64,
    pub(crate) final_pass: i64,
    pub(crate) infrastructure_runs: i64,
    pub(crate) unjudged: i64,
}

impl Tally {
    /// Adds `other` times `sign` (+1 or −1).
    pub(crate) fn add(&mut self, other: &Tally, sign: i64) {
        self.units += sign * other.units;
        self.judged += sign * other.judged;
        self.first_pass += sign * other.first_pass;
        self.final_pass += sign * other.final_pass;
        self.infrastructure_runs += sign * other.infrastructure_runs;
        self.unjudged += sign * other.unjudged;
    }

    /// True when it counts nothing (a cell every unit of which was taken away again).
    pub(crate) fn is_empty(&self) -> bool {
        *self == Tally::default()
    }
}

/// The tally of one unit × scenario's selected attempts, in attempt order, and the first of
/// them (whose station, day, … name its group); `None` when no attempt has ended.
pub(crate) fn tally<'r>(attempts: &[&'r Run]) -> Option<(&'r Run, Tally)> {
    let first = *attempts.first()?;
    let ended: Vec<&Run> = attempts
        .iter()
        .copied()
        .filter(|r| r.ended_at_us.is_some())
        .collect();
    if ended.is_empty() {
        return None;
    }
    let mut t = Tally {
        units: 1,
        infrastructure_runs: ended.iter().filter(|r| r.is_infrastructure()).count() as i64,
        ..Tally::default()
    };
    match ended.iter().find(|r| r.judges_device()) {
        Some(judged) => {
            t.judged = 1;
            t.first_pass = i64::from(judged.status == rigor_store::RunStatus::Pass);
            t.final_pass = i64::from(
                ended
                    .iter()
                    .any(|r| r.status == rigor_store::RunStatus::Pass),
            );
        }
        None => t.unjudged = 1,
    }
    Some((first, t))
}

/// Computes yield over `runs` grouped by `by`, with rolled throughput yield over `chain` (an
/// empty chain gives none).
pub fn yield_report(runs: &Runs, by: Dimension, chain: &[String]) -> YieldReport {
    let mut table: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for attempts in runs.by_unit_scenario() {
        if let Some((first, t)) = tally(&attempts) {
            table
                .entry((first.scenario.to_string(), by.key(first)))
                .or_default()
                .add(&t, 1);
        }
    }
    report_of(table, by, chain)
}

/// The report from tallies per scenario × group.
pub(crate) fn report_of(
    table: BTreeMap<(String, String), Tally>,
    by: Dimension,
    chain: &[String],
) -> YieldReport {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let rows: Vec<YieldRow> = table
        .into_iter()
        .map(|((scenario, group), t)| {
            let yield_of = |k: i64| (t.judged > 0).then(|| k as f64 / t.judged as f64);
            YieldRow {
                scenario,
                group,
                units: count(t.units),
                judged: count(t.judged),
                first_pass: count(t.first_pass),
                final_pass: count(t.final_pass),
                first_pass_yield: yield_of(t.first_pass),
                final_yield: yield_of(t.final_pass),
                infrastructure_runs: count(t.infrastructure_runs),
                unjudged: count(t.unjudged),
            }
        })
        .collect();
    let rolled = rolled(&rows, chain);
    YieldReport { by, rows, rolled }
}

fn rolled(rows: &[YieldRow], chain: &[String]) -> Vec<RtyRow> {
    if chain.is_empty() {
        return Vec::new();
    }
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    groups
        .into_iter()
        .map(|group| {
            let first_pass_yields: Vec<Option<f64>> = chain
                .iter()
                .map(|scenario| {
                    rows.iter()
                        .find(|r| r.group == group && &r.scenario == scenario)
                        .and_then(|r| r.first_pass_yield)
                })
                .collect();
            let rolled_throughput_yield = first_pass_yields
                .iter()
                .try_fold(1.0, |acc, y| y.map(|y| acc * y));
            RtyRow {
                group: group.to_owned(),
                chain: chain.to_vec(),
                first_pass_yields,
                rolled_throughput_yield,
            }
        })
        .collect()
}
