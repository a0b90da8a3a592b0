//! The trial list: every scenario × slot the rig can run, named `scenario::generation::slot`,
//! bound before anything is touched.

use std::collections::BTreeMap;

use rigor_model::Catalog;
use rigor_station::{RequestError, SlotPlan, SlotSpec, StationError};

use crate::Config;

/// Tags that keep a scenario out of a run unless asked for, as `#[ignore]` does.
pub const IGNORED_TAGS: [&str; 2] = ["slow", "destructive"];

/// One scenario on one slot.
#[derive(Debug)]
pub struct TrialPlan {
    /// `smoke::gen2::slot1`.
    pub name: String,
    /// The scenario.
    pub scenario: String,
    /// The slot.
    pub slot: String,
    /// Why it is ignored unless asked for (a tag such as `slow`).
    pub ignored: Option<String>,
    /// The bound plan, or why it could not be bound (the trial then fails with that reason).
    pub plan: Result<SlotPlan, StationError>,
}

/// The slots the trials use, each with the device profile it holds.
pub(crate) fn slot_profiles(
    catalog: &Catalog,
    config: &Config,
) -> Result<BTreeMap<String, String>, StationError> {
    let rig = rigor_station::rig(catalog, &config.rig)?;
    let names: Vec<&String> = if config.slots.is_empty() {
        rig.value.slots.keys().collect()
    } else {
        config.slots.iter().collect()
    };
    let named = [
        ("--profile", config.profiles.keys().collect::<Vec<_>>()),
        ("--unit", config.units.keys().collect()),
        ("--answer", config.answers.keys().collect()),
    ];
    for (option, slots) in named {
        if let Some(slot) = slots.into_iter().find(|s| !names.contains(s)) {
            let running = names.iter().map(|s| s.as_str()).collect::<Vec<_>>();
            return Err(RequestError::SlotNotRun {
                option,
                slot: slot.clone(),
                running: running.join(", "),
            }
            .into());
        }
    }
    let mut out = BTreeMap::new();
    for name in names {
        let kind = rig.value.slots.get(name).map_or("", |s| s.kind.as_str());
        let given = config
            .profiles
            .get(name)
            .or(config.profile.as_ref())
            .map(String::as_str);
        let (profile, _) = rigor_station::choose(catalog, given, kind, name)?;
        out.insert(name.clone(), profile.value.profile.clone());
    }
    Ok(out)
}

/// Every scenario × slot whose unit the scenario applies to, in name order.
pub fn plan_trials(catalog: &Catalog, config: &Config) -> Result<Vec<TrialPlan>, StationError> {
    let slots = slot_profiles(catalog, config)?;
    // A parameter goes to the scenarios that declare it (`build_dir` to those that flash); one
    // that no scenario declares is a typo.
    if let Some(name) = config.params.keys().find(|name| {
        !catalog
            .scenarios
            .values()
            .any(|s| s.value.parameters.contains_key(*name))
    }) {
        let declared: std::collections::BTreeSet<&String> = catalog
            .scenarios
            .values()
            .flat_map(|s| s.value.parameters.keys())
            .collect();
        let declared: Vec<&str> = declared.into_iter().map(String::as_str).collect();
        return Err(RequestError::BadValue {
            option: "--param",
            given: name.clone(),
            expected: format!("a parameter a scenario declares: {}", declared.join(", ")),
        }
        .into());
    }
    let mut trials = Vec::new();
    for (name, scenario) in &catalog.scenarios {
        for (slot, profile) in &slots {
            if !rigor_station::applies(catalog, name, profile) {
                continue;
            }
            let generation = catalog
                .profiles
                .get(profile)
                .and_then(|p| p.value.generation.clone())
                .unwrap_or_else(|| profile.clone());
            let mut spec = SlotSpec::new(slot.as_str()).profile(profile.as_str());
            spec.unit = config.units.get(slot).cloned();
            spec.answers = config.answers.get(slot).cloned().unwrap_or_default();
            let params: BTreeMap<String, _> = config
                .params
                .iter()
                .filter(|(p, _)| scenario.value.parameters.contains_key(*p))
                .map(|(p, v)| (p.clone(), v.clone()))
                .collect();
            let plan = rigor_station::plan_slot(catalog, &config.rig, name, &spec, &params);
            let ignored = scenario
                .value
                .tags
                .iter()
                .find(|t| IGNORED_TAGS.contains(&t.as_str()))
                .map(|t| format!("tagged `{t}`"));
            trials.push(TrialPlan {
                name: format!("{name}::{generation}::{slot}"),
                scenario: name.clone(),
                slot: slot.clone(),
                ignored,
                plan,
            });
        }
    }
    trials.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(trials)
}
