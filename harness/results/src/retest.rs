//! Retest analysis: does a retest find a different device, or the same device on a better day?
//!
//! The schema has no repair record yet, so every unit that passed only on retest is listed as
//! passing without a recorded repair; when repairs are recorded, this is where they subtract.

use std::collections::BTreeMap;

use rigor_store::RunStatus;
use serde::Serialize;

use crate::rows::{Run, Runs};

/// A unit × scenario whose first judged attempt failed and a later one passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassedOnRetest {
    /// Unit serial.
    pub serial: String,
    /// Scenario.
    pub scenario: String,
    /// The attempt that passed.
    pub passed_at_attempt: u32,
    /// Device failures before it.
    pub failures_before: u32,
}

/// How often failures at one station or fixture pass when retested.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetestByPlace {
    /// `station` or `fixture`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Failed attempts here that were followed by another attempt of the same unit × scenario.
    pub failures_retested: u64,
    /// Of those, how many passed at the next attempt (wherever it ran).
    pub passed_on_retest: u64,
    /// `passed_on_retest / failures_retested`: a place far above the others fails good units
    /// (contacts, cables, an instrument), not bad ones.
    pub retest_pass_rate: Option<f64>,
}

/// The retest view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetestReport {
    /// Attempts that followed a failed attempt.
    pub retests: u64,
    /// Of those, how many passed.
    pub retests_passed: u64,
    /// `retests_passed / retests`.
    pub retest_pass_rate: Option<f64>,
    /// Units that passed only on retest, with no repair recorded between (suspect "retest
    /// until pass").
    pub passed_only_on_retest: Vec<PassedOnRetest>,
    /// Per station and per fixture, highest retest pass rate first.
    pub by_place: Vec<RetestByPlace>,
}

fn failed(run: &Run) -> bool {
    matches!(
        run.status,
        RunStatus::Fail | RunStatus::Error | RunStatus::Aborted
    )
}

/// Retest analysis over `runs`.
pub fn retest(runs: &Runs) -> RetestReport {
    let (mut retests, mut retests_passed) = (0, 0);
    let mut passed_only_on_retest = Vec::new();
    let mut places: BTreeMap<(&'static str, String), (u64, u64)> = BTreeMap::new();
    for attempts in runs.by_unit_scenario() {
        let ended: Vec<&Run> = attempts
            .into_iter()
            .filter(|r| r.ended_at_us.is_some())
            .collect();
        for pair in ended.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            if !failed(before) {
                continue;
            }
            retests += 1;
            let passed = after.status == RunStatus::Pass;
            retests_passed += u64::from(passed);
            let mut count = |kind, name: String| {
                let entry = places.entry((kind, name)).or_default();
                entry.0 += 1;
                entry.1 += u64::from(passed);
            };
            count("station", before.station.to_string());
            if let Some(fixture) = &before.fixture {
                count("fixture", fixture.to_string());
            }
        }
        let judged: Vec<&&Run> = ended.iter().filter(|r| r.judges_device()).collect();
        if let Some(first) = judged.first()
            && first.status != RunStatus::Pass
            && let Some(pass) = judged.iter().find(|r| r.status == RunStatus::Pass)
        {
            passed_only_on_retest.push(PassedOnRetest {
                serial: pass.serial.clone(),
                scenario: pass.scenario.to_string(),
                passed_at_attempt: pass.attempt,
                failures_before: judged
                    .iter()
                    .take_while(|r| r.status != RunStatus::Pass)
                    .count() as u32,
            });
        }
    }
    let mut by_place: Vec<RetestByPlace> = places
        .into_iter()
        .map(|((kind, name), (n, p))| RetestByPlace {
            kind,
            name,
            failures_retested: n,
            passed_on_retest: p,
            retest_pass_rate: (n > 0).then(|| p as f64 / n as f64),
        })
        .collect();
    by_place.sort_by(|a, b| {
        b.retest_pass_rate
            .partial_cmp(&a.retest_pass_rate)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.kind.cmp(b.kind))
            .then_with(|| a.name.cmp(&b.name))
    });
    RetestReport {
        retests,
        retests_passed,
        retest_pass_rate: (retests > 0).then(|| retests_passed as f64 / retests as f64),
        passed_only_on_retest,
        by_place,
    }
}
