//! Multi-device runs: a scenario's roles placed on the rig's slots, each unit bound to its slot
//! as a single-device scenario is, and all of them joined in one session whose id every unit's
//! record carries.

use std::collections::BTreeMap;

use rigor_model::Catalog;
use rigor_model::value::Scalar;
use rigor_plan::Target;
use rigor_runner::session::Session;

use crate::error::{RequestError, StationError};
use crate::select::{SlotPlan, SlotSpec};

/// Places the roles of the multi-device `scenario` on `rig` and binds each unit. `slots` are
/// the slots it may use, in order, with their profiles and serials where known (all of the rig's
/// slots when empty). Every plan carries its unit's place in one new session.
pub fn plan_session(
    catalog: &Catalog,
    rig: &str,
    scenario: &str,
    slots: &[SlotSpec],
    params: &BTreeMap<String, Scalar>,
) -> Result<Vec<SlotPlan>, StationError> {
    let rig = crate::select::rig(catalog, rig)?;
    let entry = crate::select::scenario(catalog, scenario)?;
    if !entry.is_multi() {
        return Err(StationError::NotMulti {
            scenario: scenario.to_owned(),
            why: "has no roles: it runs on each slot alone (rigor_station::plan_slots)",
        });
    }
    for spec in slots {
        if let Some(unit) = &spec.unit {
            rigor_model::serial::check(unit).map_err(|source| RequestError::BadSerial {
                slot: spec.slot.clone(),
                source,
            })?;
        }
    }
    let names: Vec<String> = slots.iter().map(|s| s.slot.clone()).collect();
    let installed: BTreeMap<String, String> = slots
        .iter()
        .filter_map(|s| Some((s.slot.clone(), s.profile.clone()?)))
        .collect();
    let mut serials: BTreeMap<String, String> = slots
        .iter()
        .filter_map(|s| Some((s.slot.clone(), s.unit.clone()?)))
        .collect();
    let placed = rigor_plan::placement::place(catalog, entry, rig, &names, &installed)?;
    // A unit the virtual bench makes up has a serial known now, so steps can name it; it is
    // the one `Station::for_plans` gives the bench.
    if let Some(bench) = &rig.value.virtual_bench {
        for unit in &placed {
            serials.entry(unit.slot.clone()).or_insert_with(|| {
                rigor_bench::serial_number(unit.profile.generation(), &unit.slot, bench.seed)
            });
        }
    }
    let peers = rigor_plan::placement::peer_values(&placed, &serials);
    let mut plans = Vec::new();
    for unit in &placed {
        let target = Target {
            scenario: &unit.role.entry,
            profile: unit.profile,
            fixture: unit.fixture,
            rig,
            slot: &unit.slot,
        };
        let plan = rigor_plan::bind_with_peers(catalog, target, params, &peers).map_err(
            |diagnostics| StationError::Bind {
                scenario: format!("{scenario} ({})", unit.name()),
                slot: unit.slot.clone(),
                diagnostics,
            },
        )?;
        plans.push((unit, plan));
    }
    let session = Session::new(
        uuid::Uuid::now_v7().to_string(),
        plans.iter().map(|(unit, plan)| (unit.name(), plan)),
    );
    Ok(plans
        .into_iter()
        .map(|(unit, plan)| {
            let spec = slots.iter().find(|s| s.slot == unit.slot);
            SlotPlan {
                plan,
                unit: serials.get(&unit.slot).cloned(),
                profile: unit.profile.value.clone(),
                fixture: unit.fixture.value.clone(),
                answers: spec.map(|s| s.answers.clone()).unwrap_or_default(),
                session: Some(session.member(unit.name())),
            }
        })
        .collect())
}
