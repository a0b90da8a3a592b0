//! Placing a multi-device scenario on a rig: each role's units on slots whose fixture fits a
//! generation the role takes, every unit on its own slot. Pure, like binding: nothing is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rigor_model::Catalog;
use rigor_model::catalog::{Entry, ProfileEntry, RoleEntry, ScenarioEntry};
use rigor_model::check_roles::unit_ref;
use rigor_model::fixture::Fixture;
use rigor_model::rig::Rig;
use rigor_model::value::Scalar;

use crate::matrix::skip_reason;

/// A generation a slot may hold, and the fixture it sits in.
type Holding<'c> = (&'c ProfileEntry, &'c Entry<Fixture>);

/// One unit of a role, placed on a slot.
#[derive(Debug, Clone)]
pub struct Placed<'c> {
    /// The role it plays.
    pub role: &'c RoleEntry,
    /// Its number among the role's units, from 0.
    pub index: u32,
    /// The rig's slot.
    pub slot: String,
    /// The generation in the slot.
    pub profile: &'c ProfileEntry,
    /// The fixture holding it.
    pub fixture: &'c Entry<Fixture>,
}

impl Placed<'_> {
    /// How reports name the unit: `sensor[1]`.
    pub fn name(&self) -> String {
        format!("{}[{}]", self.role.name, self.index)
    }
}

/// Roles that found too few slots on a rig.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct PlacementError {
    /// The scenario.
    pub scenario: String,
    /// The rig.
    pub rig: String,
    /// Each role that could not be placed, and why.
    pub unplaced: Vec<Unplaced>,
}

/// A role that could not be placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Unplaced {
    /// The role.
    pub role: String,
    /// The rig.
    pub rig: String,
    /// How many of the rig's slots (of those the run may use) would take it at all.
    pub fitting: usize,
    /// How many slots it needs.
    pub needs: u32,
    /// What it takes: family, and generations if it names some.
    pub takes: String,
    /// The slots that would take it and are still free.
    pub free: Vec<String>,
    /// The roles placed before it on slots it could have used.
    pub after: Vec<String>,
}

impl PlacementError {
    fn describe(&self) -> String {
        let roles: Vec<&str> = self.unplaced.iter().map(|u| u.role.as_str()).collect();
        let mut out = format!(
            "scenario `{}` cannot be placed on rig `{}`: role{} {} could not be placed",
            self.scenario,
            self.rig,
            if roles.len() == 1 { "" } else { "s" },
            roles.join(", ")
        );
        for u in &self.unplaced {
            out.push_str(&format!("\n  {u}"));
        }
        out
    }
}

impl fmt::Display for Unplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = if self.needs == 1 { "slot" } else { "slots" };
        write!(
            f,
            "role {} needs {} {slots} of {}; rig {} ",
            self.role, self.needs, self.takes, self.rig
        )?;
        if self.fitting == 0 {
            return f.write_str("has no slot whose fixture takes it");
        }
        match self.free.as_slice() {
            [] => f.write_str("has none free")?,
            some => write!(f, "has {} free ({})", some.len(), some.join(", "))?,
        }
        if !self.after.is_empty() {
            write!(f, " after {}", self.after.join(", "))?;
        }
        Ok(())
    }
}

/// Places every role of `scenario` on `rig`'s slots. `slots` limits and orders the slots used
/// (all of the rig's when empty); `installed` says which profile a slot holds, where known (a
/// slot not named may hold any generation one of its fixtures fits).
pub fn place<'c>(
    cat: &'c Catalog,
    scenario: &'c ScenarioEntry,
    rig: &'c Entry<Rig>,
    slots: &[String],
    installed: &BTreeMap<String, String>,
) -> Result<Vec<Placed<'c>>, PlacementError> {
    let slots: Vec<&String> = if slots.is_empty() {
        rig.value.slots.keys().collect()
    } else {
        slots.iter().collect()
    };
    // What each slot may hold: (profile, fixture) pairs whose fixture plugs into the slot and fits.
    let holds: Vec<(&String, Vec<Holding<'c>>)> = slots
        .iter()
        .map(|name| {
            let kind = rig.value.slots.get(*name).map(|s| s.kind.as_str());
            let profiles = cat
                .profiles
                .values()
                .filter(|p| installed.get(*name).is_none_or(|id| *id == p.value.profile));
            let pairs = profiles
                .flat_map(|p| {
                    cat.fixtures
                        .values()
                        .filter(move |f| Some(f.value.slot_kind.as_str()) == kind)
                        .filter(move |f| f.value.fits.admits(p.family(), p.generation()))
                        .map(move |f| (p, f))
                })
                .collect();
            (*name, pairs)
        })
        .collect();
    let mut taken: BTreeMap<&String, &str> = BTreeMap::new();
    let mut placed = Vec::new();
    let mut unplaced = Vec::new();
    // The role with the fewest fitting slots goes first, so a flexible role does not take the
    // only slot a strict one fits.
    let fitting = |role: &RoleEntry| -> Vec<(&String, Holding<'c>)> {
        holds
            .iter()
            .filter_map(|(slot, pairs)| {
                let fit = pairs
                    .iter()
                    .find(|(p, _)| skip_reason(&role.entry, p).is_none())?;
                Some((*slot, *fit))
            })
            .collect()
    };
    let mut roles: Vec<&RoleEntry> = scenario.roles.iter().collect();
    roles.sort_by_key(|r| fitting(r).len());
    for role in roles {
        let fits = fitting(role);
        let free: Vec<_> = fits
            .iter()
            .filter(|(s, _)| !taken.contains_key(s))
            .collect();
        if free.len() < role.count as usize {
            let after: BTreeSet<&str> = fits
                .iter()
                .filter_map(|(s, _)| taken.get(s).copied())
                .collect();
            unplaced.push(Unplaced {
                role: role.name.clone(),
                rig: rig.value.rig.clone(),
                fitting: fits.len(),
                needs: role.count,
                takes: takes(role),
                free: free.iter().map(|(s, _)| (*s).clone()).collect(),
                after: after.into_iter().map(str::to_owned).collect(),
            });
            continue;
        }
        for (index, (slot, (profile, fixture))) in
            free.into_iter().take(role.count as usize).enumerate()
        {
            taken.insert(slot, &role.name);
            placed.push(Placed {
                role,
                index: index as u32,
                slot: (*slot).clone(),
                profile,
                fixture,
            });
        }
    }
    if !unplaced.is_empty() {
        unplaced.sort_by(|a, b| a.role.cmp(&b.role));
        return Err(PlacementError {
            scenario: scenario.value.scenario.clone(),
            rig: rig.value.rig.clone(),
            unplaced,
        });
    }
    placed.sort_by(|a, b| (&a.role.name, a.index).cmp(&(&b.role.name, b.index)));
    Ok(placed)
}

/// What a role takes, for people: `family fridge-ctl (gen2, gen3)`.
fn takes(role: &RoleEntry) -> String {
    let a = role.entry.value.applies_to.as_ref();
    let family = a.map_or("", |a| a.family.as_str());
    let mut out = format!("family {family}");
    if let Some(gens) = a.and_then(|a| a.generations.as_ref()) {
        out.push_str(&format!(" ({})", gens.join(", ")));
    }
    if let Some(req) = a.filter(|a| !a.requires.is_empty()) {
        out.push_str(&format!(" with {}", req.requires.join(", ")));
    }
    out
}

/// What the session's steps may name of its units: `ROLE[i].slot`, `.generation`, `.profile`
/// and, where `serials` knows it (by slot), `.serial`; a serial not known yet reads
/// `<ROLE[i].serial>`, enough for `rigor check` to bind.
pub fn peer_values(
    placed: &[Placed<'_>],
    serials: &BTreeMap<String, String>,
) -> BTreeMap<String, Scalar> {
    let mut out = BTreeMap::new();
    for p in placed {
        let (role, i) = (&p.role.name, p.index);
        let serial = serials
            .get(&p.slot)
            .cloned()
            .unwrap_or_else(|| format!("<{}>", unit_ref(role, i, "serial")));
        for (field, value) in [
            ("serial", serial),
            ("slot", p.slot.clone()),
            ("generation", p.profile.generation().to_owned()),
            ("profile", p.profile.value.profile.clone()),
        ] {
            out.insert(unit_ref(role, i, field), Scalar::Text(value));
        }
    }
    out
}
