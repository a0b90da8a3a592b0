//! Checks of multi-device scenarios: their roles, the barriers that line the roles up, and the
//! steps that name another role's unit (`${sensor[0].serial}`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::catalog::{PlacedStep, ScenarioEntry};
use crate::diagnostic::{Diagnostics, join};
use crate::step::Action;
use crate::suggest;

/// What a step may ask of another role's unit: `${ROLE[INDEX].FIELD}`.
pub const UNIT_FIELDS: &[&str] = &["serial", "slot", "generation", "profile"];

/// A reference to a role's unit in step text.
static UNIT_REF: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern, tested below
    Regex::new(r"\$\{\s*([A-Za-z_][\w-]*)\[(\d+)\]\.([\w-]+)\s*\}").unwrap()
});

/// The name a step uses for a field of a role's unit, as bound into its scope.
pub fn unit_ref(role: &str, index: u32, field: &str) -> String {
    format!("{role}[{index}].{field}")
}

/// Checks a scenario's roles (or that a scenario without roles says what it applies to).
pub fn roles(entry: &ScenarioEntry, diags: &mut Diagnostics) {
    let value = &entry.value;
    if value.roles.is_empty() {
        if value.applies_to.is_none() {
            diags.push(
                entry
                    .ctx
                    .error("scenario", "a scenario needs `applies-to` (or `roles`)")
                    .with_help("write `applies-to: { family: ... }`, or give it `roles:` to run several devices"),
            );
        }
        for step in crate::check::all_steps(entry) {
            if matches!(step.step.action, Action::Barrier(_)) {
                diags.push(
                    step.ctx
                        .error(join(&step.path, "barrier"), "a barrier lines up the roles of a multi-device scenario, and this one has no `roles`")
                        .with_help("remove it, or give the scenario `roles:`"),
                );
            }
        }
        return;
    }
    for (key, present) in [
        ("applies-to", value.applies_to.is_some()),
        ("setup", !value.setup.is_empty()),
        ("steps", !value.steps.is_empty()),
        ("teardown", !value.teardown.is_empty()),
    ] {
        if present {
            diags.push(
                entry
                    .ctx
                    .error(
                        key,
                        format!("a scenario with `roles` has no `{key}` of its own"),
                    )
                    .with_help(format!("move it into each role (`roles.NAME.{key}`)")),
            );
        }
    }
    let counts: BTreeMap<&str, u32> = value
        .roles
        .iter()
        .map(|(name, role)| (name.as_str(), role.count))
        .collect();
    for (name, count) in &counts {
        if *count == 0 {
            diags.push(
                entry
                    .ctx
                    .error(
                        join(&join("roles", name), "count"),
                        "a role needs at least one unit",
                    )
                    .with_help("write `count: 1` or more, or remove the role"),
            );
        }
    }
    // Each barrier's roles, with the first step of each that names it.
    let mut barriers: BTreeMap<&str, BTreeMap<&str, &PlacedStep>> = BTreeMap::new();
    for role in &entry.roles {
        for step in &role.entry.teardown {
            if matches!(step.step.action, Action::Barrier(_)) {
                diags.push(
                    step.ctx
                        .error(join(&step.path, "barrier"), "a barrier in teardown")
                        .with_help("teardown runs whatever happened, even after another role has stopped; put barriers in `setup` or `steps`"),
                );
            }
        }
        for step in crate::check::all_steps(&role.entry) {
            if let Action::Barrier(name) = &step.step.action {
                barriers
                    .entry(name)
                    .or_default()
                    .entry(&role.name)
                    .or_insert(step);
            }
            unit_refs(step, &counts, diags);
        }
    }
    for (barrier, named_by) in &barriers {
        if let [(role, step)] = named_by.iter().collect::<Vec<_>>()[..]
            && counts.get(role).copied().unwrap_or(0) <= 1
        {
            let others: Vec<&str> = counts.keys().copied().filter(|r| r != role).collect();
            diags.push(
                step.ctx
                    .error(
                        join(&step.path, "barrier"),
                        format!("barrier `{barrier}` is named only by role `{role}`, which has one unit: it would wait for nobody"),
                    )
                    .with_help(format!("name it in the steps of another role too ({})", others.join(", "))),
            );
        }
    }
}

/// Checks the `${ROLE[i].FIELD}` references in a step's text.
fn unit_refs(step: &PlacedStep, counts: &BTreeMap<&str, u32>, diags: &mut Diagnostics) {
    let Ok(text) = serde_json::to_string(&step.step.action) else {
        return;
    };
    let path = join(&step.path, step.step.action.key());
    for c in UNIT_REF.captures_iter(&text) {
        let (role, index, field) = (&c[1], &c[2], &c[3]);
        let problem = match counts.get(role) {
            None => Some((
                format!(
                    "`${{{role}[{index}].{field}}}` names role `{role}`, which this scenario does not have"
                ),
                suggest::help(role, counts.keys().copied()),
            )),
            Some(count) if index.parse::<u32>().map_or(true, |i| i >= *count) => Some((
                format!(
                    "`${{{role}[{index}].{field}}}`: role `{role}` has {count} unit(s), numbered from 0"
                ),
                Some(format!(
                    "use an index below {count}, or raise the role's `count`"
                )),
            )),
            Some(_) if !UNIT_FIELDS.contains(&field) => Some((
                format!("`${{{role}[{index}].{field}}}`: a unit has no `{field}`"),
                suggest::help(field, UNIT_FIELDS.iter().copied()),
            )),
            Some(_) => None,
        };
        if let Some((message, help)) = problem {
            diags.push(step.ctx.error(&path, message).with_optional_help(help));
        }
    }
}
