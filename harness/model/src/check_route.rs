//! Checks of a route against the rest of the catalog: its rig, scenarios and profiles exist,
//! its patterns compile and tell generations apart, its label template fills in.

use crate::catalog::{Catalog, Entry};
use crate::diagnostic::{Diagnostics, join};
use crate::route::{LABEL_FIELDS, Route};
use crate::suggest;

/// Checks one route.
pub fn route(entry: &Entry<Route>, cat: &Catalog, diags: &mut Diagnostics) {
    let r = &entry.value;
    let ctx = &entry.ctx;
    if !cat.rigs.contains_key(&r.on_rig) && !cat.broken.rigs.contains(&r.on_rig) {
        diags.push(
            ctx.error("on-rig", format!("no rig `{}`", r.on_rig))
                .with_optional_help(suggest::help(
                    &r.on_rig,
                    cat.rigs.keys().map(String::as_str),
                )),
        );
    }
    if r.scenarios.is_empty() {
        diags.push(
            ctx.error("scenarios", "a route runs at least one scenario")
                .with_help("name the scenarios this station runs, in order"),
        );
    }
    for (i, name) in r.scenarios.iter().enumerate() {
        if !cat.scenarios.contains_key(name) {
            diags.push(
                ctx.error(format!("scenarios[{i}]"), format!("no scenario `{name}`"))
                    .with_optional_help(suggest::help(
                        name,
                        cat.scenarios.keys().map(String::as_str),
                    )),
            );
        }
    }
    if r.serials.is_empty() {
        diags.push(
            ctx.error(
                "serials",
                "a route needs a label pattern for at least one profile",
            )
            .with_help("e.g. `fridge-ctl-gen2: 'FC2-\\d{6}'`"),
        );
    }
    for (profile, pattern) in &r.serials {
        let path = join("serials", profile);
        if !cat.profiles.contains_key(profile) && !cat.broken.profiles.contains(profile) {
            diags.push(
                ctx.key_error(path.clone(), format!("no device profile `{profile}`"))
                    .with_optional_help(suggest::help(
                        profile,
                        cat.profiles.keys().map(String::as_str),
                    )),
            );
        }
        if let Err(e) = pattern.regex() {
            diags.push(ctx.error(
                path,
                format!(
                    "invalid regular expression: {}",
                    crate::check::regex_error(e)
                ),
            ));
        }
    }
    if let Some(label) = &r.label {
        let port = label.tcp.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(_))) {
            diags.push(
                ctx.error("label.tcp", format!("`{}` is not `host:port`", label.tcp))
                    .with_help("e.g. `printer-3.line:9100`"),
            );
        }
        let mut rest = label.template.as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let field = &after[..end];
            if !LABEL_FIELDS.contains(&field) {
                diags.push(
                    ctx.error(
                        "label.template",
                        format!("the template uses `${{{field}}}`, which a label does not have"),
                    )
                    .with_optional_help(suggest::help(field, LABEL_FIELDS)),
                );
            }
            rest = &after[end..];
        }
    }
}
