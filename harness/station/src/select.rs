//! Which generation and fixture sit in a slot, and the scenario bound to them: everything a run
//! needs decided before any hardware (or simulator) is touched.

use std::collections::BTreeMap;

use rigor_model::Catalog;
use rigor_model::catalog::{Entry, ProfileEntry, ScenarioEntry};
use rigor_model::fixture::Fixture;
use rigor_model::rig::Rig;
use rigor_model::value::Scalar;
use rigor_plan::Target;
use rigor_plan::plan::BoundPlan;

use crate::error::{RequestError, StationError, known};

/// What one slot of a run holds and is asked.
#[derive(Debug, Clone, Default)]
pub struct SlotSpec {
    /// The rig's slot.
    pub slot: String,
    /// The device profile in it; `None` takes the one generation a fixture of the slot's kind fits.
    pub profile: Option<String>,
    /// The unit's serial number; `None` reads it from the unit, as its profile says.
    pub unit: Option<String>,
    /// Answers to the scenario's operator prompts, in order (a scanned label); none left means
    /// no operator is there.
    pub answers: Vec<String>,
}

impl SlotSpec {
    /// A slot whose generation the fixture decides, whose unit says its serial.
    pub fn new(slot: impl Into<String>) -> Self {
        SlotSpec {
            slot: slot.into(),
            ..SlotSpec::default()
        }
    }

    /// The unit in the slot has this serial number.
    pub fn unit(mut self, serial: impl Into<String>) -> Self {
        self.unit = Some(serial.into());
        self
    }

    /// The slot holds this device profile.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }
}

/// A slot's scenario, bound: the plan, and the profile and fixture it was bound to.
#[derive(Debug, Clone)]
pub struct SlotPlan {
    /// The bound plan.
    pub plan: BoundPlan,
    /// The unit's serial number, if given.
    pub unit: Option<String>,
    /// The device profile.
    pub profile: rigor_model::profile::Profile,
    /// The fixture.
    pub fixture: Fixture,
    /// Answers to operator prompts.
    pub answers: Vec<String>,
    /// In a multi-device scenario: the unit's place in its session (see [`crate::plan_session`]).
    pub session: Option<rigor_runner::session::Member>,
}

/// The rig `id` in `catalog`.
pub fn rig<'c>(catalog: &'c Catalog, id: &str) -> Result<&'c Entry<Rig>, StationError> {
    catalog.rigs.get(id).ok_or_else(|| StationError::Unknown {
        what: "rig",
        name: id.to_owned(),
        known: known(catalog.rigs.keys()),
    })
}

/// The scenario `id`, or an error listing the scenarios there are.
pub(crate) fn scenario<'c>(
    catalog: &'c Catalog,
    id: &str,
) -> Result<&'c ScenarioEntry, StationError> {
    catalog
        .scenarios
        .get(id)
        .ok_or_else(|| StationError::Unknown {
            what: "scenario",
            name: id.to_owned(),
            known: known(catalog.scenarios.keys()),
        })
}

/// Binds `scenario` on each slot of `rig`, with `params`. Touches nothing.
pub fn plan_slots(
    catalog: &Catalog,
    rig: &str,
    scenario: &str,
    slots: &[SlotSpec],
    params: &BTreeMap<String, Scalar>,
) -> Result<Vec<SlotPlan>, StationError> {
    slots
        .iter()
        .map(|spec| plan_slot(catalog, rig, scenario, spec, params))
        .collect()
}

/// Binds `scenario` on one slot of `rig`, with `params`. Touches nothing.
pub fn plan_slot(
    catalog: &Catalog,
    rig: &str,
    scenario: &str,
    spec: &SlotSpec,
    params: &BTreeMap<String, Scalar>,
) -> Result<SlotPlan, StationError> {
    let rig = self::rig(catalog, rig)?;
    let scenario = self::scenario(catalog, scenario)?;
    if let Some(unit) = &spec.unit {
        rigor_model::serial::check(unit).map_err(|source| RequestError::BadSerial {
            slot: spec.slot.clone(),
            source,
        })?;
    }
    let slot = rig
        .value
        .slots
        .get(&spec.slot)
        .ok_or_else(|| StationError::Unknown {
            what: "slot",
            name: spec.slot.clone(),
            known: known(rig.value.slots.keys()),
        })?;
    let (profile, fixture) = choose(catalog, spec.profile.as_deref(), &slot.kind, &spec.slot)?;
    if scenario.is_multi() {
        return Err(StationError::NotMulti {
            scenario: scenario.value.scenario.clone(),
            why: "has roles: it runs on several slots at once (rigor_station::plan_session)",
        });
    }
    if let Some(reason) = rigor_plan::matrix::skip_reason(scenario, profile) {
        return Err(StationError::DoesNotApply {
            scenario: scenario.value.scenario.clone(),
            profile: profile.value.profile.clone(),
            reason,
        });
    }
    let target = Target {
        scenario,
        profile,
        fixture,
        rig,
        slot: &spec.slot,
    };
    let plan =
        rigor_plan::bind(catalog, target, params).map_err(|diagnostics| StationError::Bind {
            scenario: scenario.value.scenario.clone(),
            slot: spec.slot.clone(),
            diagnostics,
        })?;
    Ok(SlotPlan {
        plan,
        unit: spec.unit.clone(),
        profile: profile.value.clone(),
        fixture: fixture.value.clone(),
        answers: spec.answers.clone(),
        session: None,
    })
}

/// The slots of `rig` a run of `scenario` uses when none are named: those whose fixtures hold a
/// generation the scenario applies to (all of them for a multi-device scenario, whose roles
/// are placed among them, or when the rig or scenario is unknown, for the run to say so).
pub fn slots_for(catalog: &Catalog, rig: &str, scenario: &str) -> Vec<String> {
    let Some(rig) = catalog.rigs.get(rig) else {
        return Vec::new();
    };
    let all = || rig.value.slots.keys().cloned().collect();
    let Some(entry) = catalog.scenarios.get(scenario) else {
        return all();
    };
    if entry.is_multi() {
        return all();
    }
    rig.value
        .slots
        .iter()
        .filter(|(_, slot)| {
            catalog
                .fixtures
                .values()
                .filter(|f| f.value.slot_kind == slot.kind)
                .any(|f| {
                    catalog.profiles.values().any(|p| {
                        f.value.fits.admits(p.family(), p.generation())
                            && rigor_plan::matrix::skip_reason(entry, p).is_none()
                    })
                })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Binds `scenario` for a run on `slots`: each slot on its own, or, for a multi-device scenario,
/// its roles placed among the slots in one session ([`crate::plan_session`]).
pub fn plan_run(
    catalog: &Catalog,
    rig: &str,
    scenario: &str,
    slots: &[SlotSpec],
    params: &BTreeMap<String, Scalar>,
) -> Result<Vec<SlotPlan>, StationError> {
    match catalog.scenarios.get(scenario) {
        Some(entry) if entry.is_multi() => {
            crate::session::plan_session(catalog, rig, scenario, slots, params)
        }
        _ => plan_slots(catalog, rig, scenario, slots, params),
    }
}

/// Whether `scenario` applies to the generation `profile` describes.
pub fn applies(catalog: &Catalog, scenario: &str, profile: &str) -> bool {
    match (
        catalog.scenarios.get(scenario),
        catalog.profiles.get(profile),
    ) {
        (Some(s), Some(p)) => rigor_plan::matrix::skip_reason(s, p).is_none(),
        _ => false,
    }
}

/// The profile and fixture for a slot: the given profile, or the one generation a fixture of the
/// slot's kind fits.
pub fn choose<'c>(
    catalog: &'c Catalog,
    profile: Option<&str>,
    kind: &str,
    slot: &str,
) -> Result<(&'c ProfileEntry, &'c Entry<Fixture>), StationError> {
    let no_fixture = |why: String| StationError::NoFixture {
        slot: slot.to_owned(),
        why,
    };
    let fixtures: Vec<_> = catalog
        .fixtures
        .values()
        .filter(|f| f.value.slot_kind == kind)
        .collect();
    let fits =
        |p: &ProfileEntry, f: &Entry<Fixture>| f.value.fits.admits(p.family(), p.generation());
    match profile {
        Some(id) => {
            let p = catalog
                .profiles
                .get(id)
                .ok_or_else(|| StationError::Unknown {
                    what: "device profile",
                    name: id.to_owned(),
                    known: known(catalog.profiles.keys()),
                })?;
            let f = fixtures
                .into_iter()
                .find(|f| fits(p, f))
                .ok_or_else(|| no_fixture(format!("no fixture for `{kind}` slots fits {id}")))?;
            Ok((p, f))
        }
        None => {
            let pairs: Vec<_> = catalog
                .profiles
                .values()
                .flat_map(|p| {
                    fixtures
                        .iter()
                        .filter(move |f| fits(p, f))
                        .map(move |f| (p, *f))
                })
                .collect();
            match pairs.as_slice() {
                [one] => Ok(*one),
                [] => Err(no_fixture(format!("no fixture fits a `{kind}` slot"))),
                _ => Err(no_fixture(
                    "it takes several generations; say which profile is in it".to_owned(),
                )),
            }
        }
    }
}
