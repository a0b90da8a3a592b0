//! Checks of scenarios on their own: unique step ids and measurement names, each step's own
//! rules, and that the family and generations they (or their roles) name exist.

use std::collections::{BTreeSet, HashMap};

use crate::catalog::{Catalog, PlacedStep, ProfileEntry, ScenarioEntry};
use crate::diagnostic::{Diagnostics, join};
use crate::step::Action;
use crate::suggest;

/// Checks that the family and generations a scenario (or one of its roles) names exist.
pub(crate) fn applies(
    scenario: &ScenarioEntry,
    base: &str,
    applies_to: &crate::scenario::AppliesTo,
    cat: &Catalog,
    diags: &mut Diagnostics,
) {
    {
        let family = &applies_to.family;
        let generations: Vec<&ProfileEntry> = cat
            .profiles
            .values()
            .filter(|p| p.family() == family)
            .collect();
        if !cat.broken.profiles.is_empty() {
            return; // a profile did not load; what it would have defined is unknown
        }
        if generations.is_empty() && !cat.profiles.is_empty() {
            let families: BTreeSet<&str> =
                cat.profiles.values().map(ProfileEntry::family).collect();
            diags.push(
                scenario
                    .ctx
                    .error(
                        join(base, "family"),
                        format!("no device profile of family `{family}`"),
                    )
                    .with_optional_help(suggest::help(family, families.iter().copied())),
            );
            return;
        }
        for (i, g) in applies_to.generations.iter().flatten().enumerate() {
            if !generations.is_empty() && !generations.iter().any(|p| p.generation() == g) {
                diags.push(
                    scenario
                        .ctx
                        .error(
                            format!("{base}.generations[{i}]"),
                            format!("family `{family}` has no generation `{g}`"),
                        )
                        .with_optional_help(suggest::help(
                            g,
                            generations.iter().map(|p| p.generation()),
                        )),
                );
            }
        }
    }
}

/// Checks a scenario on its own: ids, names, patterns, limits, and the shape of each step.
pub fn scenario(entry: &ScenarioEntry, diags: &mut Diagnostics) {
    let mut ids: HashMap<String, &PlacedStep> = HashMap::new();
    let mut measurements: HashMap<String, &PlacedStep> = HashMap::new();
    for step in all_steps(entry) {
        if let Some(id) = &step.step.id {
            if let Some(first) = ids.get(id) {
                diags.push(
                    step.ctx
                        .error(join(&step.path, "id"), format!("duplicate step id `{id}`"))
                        .with_help("step ids name steps in reports and records, so each must be unique in its scenario")
                        .with_related("first used", first.ctx.origin(&join(&first.path, "id"))),
                );
            } else {
                ids.insert(id.clone(), step);
            }
        }
        if let Some(name) = measurement_name(&step.step.action) {
            if let Some(first) = measurements.get(name) {
                diags.push(
                    step.ctx
                        .error(
                            join(&step.path, &format!("{}.name", step.step.action.key())),
                            format!("duplicate measurement name `{name}`"),
                        )
                        .with_related("first used", first.origin()),
                );
            } else {
                measurements.insert(name.to_owned(), step);
            }
        }
        crate::check_step::step(step, diags);
    }
    for role in &entry.roles {
        scenario(&role.entry, diags);
    }
}

/// Every step of a scenario, retry groups' inner steps included, in order.
pub fn all_steps(entry: &ScenarioEntry) -> Vec<&PlacedStep> {
    fn walk<'a>(steps: &'a [PlacedStep], out: &mut Vec<&'a PlacedStep>) {
        for s in steps {
            out.push(s);
            walk(&s.inner, out);
        }
    }
    let mut out = Vec::new();
    walk(&entry.setup, &mut out);
    walk(&entry.steps, &mut out);
    walk(&entry.teardown, &mut out);
    out
}

fn measurement_name(action: &Action) -> Option<&str> {
    match action {
        Action::Measure(m) => Some(&m.name),
        Action::GpioMeasure(m) => Some(&m.name),
        Action::OtaMeasure(m) => Some(&m.name),
        _ => None,
    }
}
