//! Binding measurements: where the value comes from, and limits checked against its unit.

use super::*;

impl Binder<'_> {
    pub(super) fn measure(
        &mut self,
        at: &At<'_>,
        m: &rigor_model::action::Measure,
        scope: &Scope,
    ) -> Option<BoundAction> {
        let (source, source_unit) = if let Some(from) = &m.from {
            let (instrument, channel) = self.channel(at, "from", from)?;
            let unit = instrument.model.channels[&channel].unit;
            if unit.is_none() {
                self.diags.push(
                    at.error(
                        "from",
                        format!(
                            "channel `{channel}` of `{}` has no unit, so it cannot be measured",
                            instrument.model_id
                        ),
                    )
                    .with_related("the channel is", self.model_origin(&instrument, &channel)),
                );
                return None;
            }
            let origin = self.model_origin(&instrument, &channel);
            (
                MeasureSource::Instrument {
                    instrument,
                    channel,
                    samples: m.samples.unwrap_or(1),
                },
                unit.map(|u| (u, Some(origin))),
            )
        } else if let Some(name) = &m.capture {
            if !self.captures.has(name) && scope.get(name).is_none() {
                self.diags.push(
                    at.error("capture", format!("no earlier step captures `{name}`"))
                        .with_optional_help(suggest::help(name, self.captures.names()))
                        .with_help("capture it first, e.g. with `as: NAME` or a `(?P<NAME>...)` group in console.expect"),
                );
                return None;
            }
            (
                MeasureSource::Capture(name.clone()),
                m.unit.map(|u| (u, None)),
            )
        } else if let Some(expr) = &m.expr {
            // An expression that does not parse was reported when the scenario was loaded.
            expr.tree().ok()?;
            for var in expr.variables() {
                let numeric = matches!(scope.get(var), Some(Scalar::Number(_)));
                if !self.captures.has(var) && !numeric {
                    let numeric = scope
                        .names()
                        .filter(|n| matches!(scope.get(n), Some(Scalar::Number(_))));
                    let names: Vec<&str> = self.captures.names().chain(numeric).collect();
                    self.diags.push(
                        at.error("expr", format!("`{var}` in the expression is neither captured by an earlier step nor a numeric variable"))
                            .with_optional_help(suggest::help(var, names.iter().copied())),
                    );
                    return None;
                }
            }
            (MeasureSource::Expr(expr.clone()), m.unit.map(|u| (u, None)))
        } else {
            return None;
        };
        let limits = self.limits(at, &m.limits, source_unit.clone())?;
        let unit = source_unit.map(|(u, _)| u).or(limits.unit);
        Some(BoundAction::Measure {
            name: m.name.clone(),
            source,
            unit,
            settle: m.settle.map(|d| d.get()),
            limits,
            description: m.description.clone(),
        })
    }

    pub(super) fn limits(
        &mut self,
        at: &At<'_>,
        limits: &Limits,
        source: Option<(Unit, Option<Origin>)>,
    ) -> Option<BoundLimits> {
        let field = |f: &str| join("limits", f);
        let (checked, origin) = if let Some(var) = &limits.from_profile {
            let profile = &self.t.profile.value;
            let Some(v) = profile.variables.get(var) else {
                self.not_in_profile(
                    at,
                    &field("from-profile"),
                    "variable",
                    var,
                    &profile.variables,
                    "variables",
                );
                return None;
            };
            let origin = self.profile_origin(&join("variables", var));
            if v.low.is_none() && v.high.is_none() {
                self.diags.push(
                    at.error(
                        &field("from-profile"),
                        format!("profile variable `{var}` has no range (`low`/`high`)"),
                    )
                    .with_related("the variable is", origin),
                );
                return None;
            }
            let as_limits = Limits {
                low: v.low,
                high: v.high,
                unit: v.unit,
                ..Limits::default()
            };
            let mut ignore = Diagnostics::default();
            let ctx = &self.t.profile.chain[0];
            (as_limits.check(ctx, "", &mut ignore)?, origin)
        } else {
            let mut d = Diagnostics::default();
            // Problems of the limits on their own were reported when the scenario was loaded.
            (
                limits.check(&at.placed.ctx, &at.field("limits"), &mut d)?,
                at.placed.ctx.origin(&at.field("limits")),
            )
        };
        if let (Some((source_unit, source_origin)), Some(limit_unit)) = (&source, checked.unit)
            && source_unit.dimension() != limit_unit.dimension()
        {
            let mut d = at
                .error(
                    &field(if limits.from_profile.is_some() {
                        "from-profile"
                    } else {
                        "unit"
                    }),
                    format!(
                        "the limits are in {limit_unit}, but the value is measured in {source_unit}"
                    ),
                )
                .with_help(format!(
                    "write the limits in {source_unit} or another unit of the same kind"
                ));
            if let Some(o) = source_origin {
                d = d.with_related("the channel is", o.clone());
            }
            self.diags.push(d);
            return None;
        }
        if source.is_none() && checked.unit.is_none() && checked.comparator.is_numeric() {
            self.diags.push(
                at.error(&field("unit"), "the value has no unit")
                    .with_help("give `unit:` to the measurement or its limits"),
            );
            return None;
        }
        Some(BoundLimits {
            comparator: checked.comparator,
            unit: checked.unit,
            marginal: checked.marginal,
            origin,
        })
    }
}
