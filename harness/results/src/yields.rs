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

/// Computes yield over `runs` grouped by `by`, with rolled throughput yield over `chain` (an
/// empty chain gives none).
pub fn yield_report(runs: &Runs, by: Dimension, chain: &[String]) -> YieldReport {
    let mut table: BTreeMap<(String, String), YieldRow> = BTreeMap::new();
    for attempts in runs.by_unit_scenario() {
        let Some(first) = attempts.first() else {
            continue;
        };
        let ended: Vec<&&Run> = attempts
            .iter()
            .filter(|r| r.ended_at_us.is_some())
            .collect();
        if ended.is_empty() {
            continue;
        }
        let key = (first.scenario.to_string(), by.key(first));
        let row = table.entry(key.clone()).or_insert_with(|| YieldRow {
            scenario: key.0,
            group: key.1,
            units: 0,
            judged: 0,
            first_pass: 0,
            final_pass: 0,
            first_pass_yield: None,
            final_yield: None,
            infrastructure_runs: 0,
            unjudged: 0,
        });
        row.units += 1;
        row.infrastructure_runs += ended.iter().filter(|r| r.is_infrastructure()).count() as u64;
        match ended.iter().find(|r| r.judges_device()) {
            Some(judged) => {
                row.judged += 1;
                row.first_pass += u64::from(judged.status == rigor_store::RunStatus::Pass);
                row.final_pass += u64::from(
                    ended
                        .iter()
                        .any(|r| r.status == rigor_store::RunStatus::Pass),
                );
            }
            None => row.unjudged += 1,
        }
    }
    let mut rows: Vec<YieldRow> = table.into_values().collect();
    for row in &mut rows {
        if row.judged > 0 {
            row.first_pass_yield = Some(row.first_pass as f64 / row.judged as f64);
            row.final_yield = Some(row.final_pass as f64 / row.judged as f64);
        }
    }
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
