//! The check matrix: every scenario bound against every (generation, fixture, rig slot) it
//! applies to, and for every generation it does not, the reason.

use std::collections::BTreeMap;

use rayon::prelude::*;
use rigor_model::Catalog;
use rigor_model::catalog::{ProfileEntry, ScenarioEntry};
use rigor_model::diagnostic::Diagnostics;
use rigor_model::value::Scalar;
use serde::Serialize;

use crate::bind::{Target, bind};
use crate::plan::BoundPlan;

/// One line of the matrix: a scenario on a generation, through one fixture on one rig's slots.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Scenario version.
    pub version: u32,
    /// Profile id.
    pub profile: String,
    /// Generation.
    pub generation: String,
    /// Fixture id, when one fits.
    pub fixture: Option<String>,
    /// Rig id, when a slot fits the fixture.
    pub rig: Option<String>,
    /// The slots it binds on.
    pub slots: Vec<String>,
    /// In a multi-device scenario: the role's unit (`sensor[1]`) this row binds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What came of it.
    pub status: Status,
}

/// What came of binding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    /// Bound on every slot: it runs there.
    Runs {
        /// Steps in the bound plan, retry groups' steps included.
        steps: usize,
        /// Measurements taken.
        measurements: usize,
    },
    /// Not for this combination.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Binding found problems (reported as diagnostics).
    Invalid {
        /// How many.
        problems: usize,
    },
}

/// Why a scenario does not apply to a generation, if it does not.
pub fn skip_reason(scenario: &ScenarioEntry, profile: &ProfileEntry) -> Option<String> {
    let Some(applies) = &scenario.value.applies_to else {
        return Some("it has roles: it runs on several slots at once".to_owned());
    };
    if profile.family() != applies.family {
        return Some(format!(
            "is for family {}; {} is family {}",
            applies.family,
            profile.value.profile,
            profile.family()
        ));
    }
    if let Some(gens) = &applies.generations
        && !gens.iter().any(|g| g == profile.generation())
    {
        return Some(format!("applies to {} only", gens.join(", ")));
    }
    let missing: Vec<&str> = applies
        .requires
        .iter()
        .filter(|c| !profile.value.capabilities.contains(c))
        .map(String::as_str)
        .collect();
    match missing.as_slice() {
        [] => None,
        [one] => Some(format!(
            "requires capability `{one}`, which {} lacks",
            profile.value.profile
        )),
        many => Some(format!(
            "requires capabilities `{}`, which {} lacks",
            many.join("`, `"),
            profile.value.profile
        )),
    }
}

/// Binds every scenario everywhere it applies. Returns the rows, the plans that bound, and every problem.
pub fn matrix(
    cat: &Catalog,
    parameters: &BTreeMap<String, Scalar>,
) -> (Vec<Row>, Vec<BoundPlan>, Diagnostics) {
    bind_all(cat, parameters, true)
}

/// As [`matrix`], without keeping the plans: what `rigor check` needs. A thousand scenarios on
/// every slot make tens of thousands of plans; dropped as each row is made, their memory is
/// reused instead of asked of the system for every one.
pub fn matrix_rows(
    cat: &Catalog,
    parameters: &BTreeMap<String, Scalar>,
) -> (Vec<Row>, Diagnostics) {
    let (rows, _, diags) = bind_all(cat, parameters, false);
    (rows, diags)
}

fn bind_all(
    cat: &Catalog,
    parameters: &BTreeMap<String, Scalar>,
    keep_plans: bool,
) -> (Vec<Row>, Vec<BoundPlan>, Diagnostics) {
    // Each scenario binds on its own: bind them on every core, then put their rows, plans and
    // problems together in scenario order, as one binder in that order would have.
    let scenarios: Vec<&ScenarioEntry> = cat.scenarios.values().collect();
    let single = scenarios
        .par_iter()
        .map(|scenario| scenario_rows(cat, scenario, parameters, keep_plans));
    let multi: Vec<&ScenarioEntry> = scenarios.iter().copied().filter(|s| s.is_multi()).collect();
    let multi = multi.par_iter().map(|scenario| {
        let mut out = Bound::default();
        for rig in cat.rigs.values() {
            session_rows(cat, scenario, rig, parameters, keep_plans, &mut out);
        }
        out
    });
    let parts: Vec<Bound> = single.chain(multi).collect();
    let mut all = Bound::default();
    for part in parts {
        all.rows.extend(part.rows);
        all.plans.extend(part.plans);
        all.diags.extend(part.diags);
    }
    all.diags.sort();
    (all.rows, all.plans, all.diags)
}

/// Rows, plans and problems of part of the matrix.
#[derive(Default)]
struct Bound {
    rows: Vec<Row>,
    plans: Vec<BoundPlan>,
    diags: Diagnostics,
}

/// A single-device scenario on every generation of its family: a row per (fixture, rig), or
/// one saying why it does not run there.
fn scenario_rows(
    cat: &Catalog,
    scenario: &ScenarioEntry,
    parameters: &BTreeMap<String, Scalar>,
    keep_plans: bool,
) -> Bound {
    let mut out = Bound::default();
    let Bound { rows, plans, diags } = &mut out;
    let mut profiles: Vec<&ProfileEntry> = cat
        .profiles
        .values()
        .filter(|p| {
            scenario
                .value
                .applies_to
                .as_ref()
                .is_some_and(|a| p.family() == a.family)
        })
        .collect();
    profiles.sort_by(|a, b| a.generation().cmp(b.generation()));
    for profile in profiles {
        let row =
            |fixture: Option<&str>, rig: Option<&str>, slots: Vec<String>, status: Status| Row {
                scenario: scenario.value.scenario.clone(),
                version: scenario.value.version,
                profile: profile.value.profile.clone(),
                generation: profile.generation().to_owned(),
                fixture: fixture.map(str::to_owned),
                rig: rig.map(str::to_owned),
                slots,
                role: None,
                status,
            };
        if let Some(reason) = skip_reason(scenario, profile) {
            rows.push(row(None, None, Vec::new(), Status::Skipped { reason }));
            continue;
        }
        let fixtures: Vec<_> = cat
            .fixtures
            .values()
            .filter(|f| f.value.fits.admits(profile.family(), profile.generation()))
            .collect();
        if fixtures.is_empty() {
            let reason = format!("no fixture fits {}", profile.value.profile);
            rows.push(row(None, None, Vec::new(), Status::Skipped { reason }));
            continue;
        }
        for fixture in fixtures {
            let mut any_slot = false;
            for rig in cat.rigs.values() {
                let slots: Vec<&String> = rig
                    .value
                    .slots
                    .iter()
                    .filter(|(_, s)| s.kind == fixture.value.slot_kind)
                    .map(|(n, _)| n)
                    .collect();
                if slots.is_empty() {
                    continue;
                }
                any_slot = true;
                let mut problems = 0;
                let mut bound = Vec::new();
                for slot in &slots {
                    let target = Target {
                        scenario,
                        profile,
                        fixture,
                        rig,
                        slot,
                    };
                    match bind(cat, target, parameters) {
                        Ok(plan) => bound.push(plan),
                        Err(d) => {
                            problems += d.len();
                            diags.extend(d);
                        }
                    }
                }
                let status = match bound.first() {
                    Some(plan) if problems == 0 => runs(plan),
                    _ => Status::Invalid { problems },
                };
                if keep_plans {
                    plans.extend(bound);
                }
                let slots = slots.into_iter().cloned().collect();
                rows.push(row(
                    Some(&fixture.value.fixture),
                    Some(&rig.value.rig),
                    slots,
                    status,
                ));
            }
            if !any_slot {
                let reason = format!(
                    "no rig has a `{}` slot for fixture {}",
                    fixture.value.slot_kind, fixture.value.fixture
                );
                rows.push(row(
                    Some(&fixture.value.fixture),
                    None,
                    Vec::new(),
                    Status::Skipped { reason },
                ));
            }
        }
    }
    out
}

/// A multi-device scenario on a rig: a row per placed unit, or one saying which roles found no slot.
fn session_rows(
    cat: &Catalog,
    scenario: &ScenarioEntry,
    rig: &rigor_model::catalog::Entry<rigor_model::rig::Rig>,
    parameters: &BTreeMap<String, Scalar>,
    keep_plans: bool,
    out: &mut Bound,
) {
    let Bound { rows, plans, diags } = out;
    let row = |status: Status| Row {
        scenario: scenario.value.scenario.clone(),
        version: scenario.value.version,
        profile: String::new(),
        generation: "-".to_owned(),
        fixture: None,
        rig: Some(rig.value.rig.clone()),
        slots: Vec::new(),
        role: None,
        status,
    };
    let placed = match crate::placement::place(cat, scenario, rig, &[], &BTreeMap::new()) {
        Ok(placed) => placed,
        Err(e) => {
            let reason = e
                .unplaced
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            rows.push(row(Status::Skipped { reason }));
            return;
        }
    };
    let peers = crate::placement::peer_values(&placed, &BTreeMap::new());
    for unit in &placed {
        let target = Target {
            scenario: &unit.role.entry,
            profile: unit.profile,
            fixture: unit.fixture,
            rig,
            slot: &unit.slot,
        };
        let status = match crate::bind::bind_with_peers(cat, target, parameters, &peers) {
            Ok(plan) => {
                let status = runs(&plan);
                if keep_plans {
                    plans.push(plan);
                }
                status
            }
            Err(d) => {
                let problems = d.len();
                diags.extend(d);
                Status::Invalid { problems }
            }
        };
        rows.push(Row {
            profile: unit.profile.value.profile.clone(),
            generation: unit.profile.generation().to_owned(),
            fixture: Some(unit.fixture.value.fixture.clone()),
            slots: vec![unit.slot.clone()],
            role: Some(unit.name()),
            ..row(status)
        });
    }
}

/// A bound plan's size, as the matrix shows it.
fn runs(plan: &BoundPlan) -> Status {
    let steps = plan.all_steps();
    Status::Runs {
        steps: steps.len(),
        measurements: steps
            .iter()
            .filter(|s| {
                matches!(
                    s.action,
                    crate::plan::BoundAction::Measure { .. }
                        | crate::plan::BoundAction::GpioMeasure { .. }
                        | crate::plan::BoundAction::OtaMeasure { .. }
                )
            })
            .count(),
    }
}
