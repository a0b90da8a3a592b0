//! Binding: (scenario × profile × fixture × rig slot) → bound plan. Pure: no I/O, no hardware.
//!
//! Every problem is reported at the scenario step that has it, with a note pointing at the other
//! side (the profile, fixture, rig or instrument model that lacks what the step needs).

use std::collections::BTreeMap;
use std::time::Duration;

use rigor_model::Catalog;
use rigor_model::action::{Edge, RegisterRef};
use rigor_model::catalog::{Entry, PlacedStep, ProfileEntry, ScenarioEntry};
use rigor_model::diagnostic::{Diagnostic, Diagnostics, Origin, join};
use rigor_model::fixture::Fixture;
use rigor_model::limits::Limits;
use rigor_model::pattern::Pattern;
use rigor_model::profile::{ActiveLevel, Direction, FlashMethod, IdentitySource};
use rigor_model::rig::{PowerSwitch, Probe, Rig, Slot};
use rigor_model::step::{Action, OnFail};
use rigor_model::suggest;
use rigor_model::unit::Unit;
use rigor_model::value::Scalar;

use crate::plan::{
    BoundAction, BoundLimits, BoundPlan, BoundStep, ConsoleBinding, I2cTarget, IdentityQuery,
    InstrumentBinding, LineBinding, LinkBinding, MeasureSource, PowerBinding, ScenarioIdentity,
};
use crate::scope::{Captures, Scope};

mod action;
mod channel;
mod limit_hash;
mod measure;

/// The timeout of a step when neither it, its scenario, its profile nor its rig sets one.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a plan is bound from.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The scenario.
    pub scenario: &'a ScenarioEntry,
    /// The generation's profile.
    pub profile: &'a ProfileEntry,
    /// The fixture.
    pub fixture: &'a Entry<Fixture>,
    /// The rig.
    pub rig: &'a Entry<Rig>,
    /// The slot's name on the rig.
    pub slot: &'a str,
}

/// Binds one combination. `parameters` are values given for this run (`--param`).
pub fn bind(
    cat: &Catalog,
    target: Target<'_>,
    parameters: &BTreeMap<String, Scalar>,
) -> Result<BoundPlan, Diagnostics> {
    bind_with_peers(cat, target, parameters, &BTreeMap::new())
}

/// As [`bind`], for one unit of a multi-device scenario's role: `peers` are what its steps may
/// name of the session's units (`sensor[0].serial`, see [`crate::placement::peer_values`]).
pub fn bind_with_peers(
    cat: &Catalog,
    target: Target<'_>,
    parameters: &BTreeMap<String, Scalar>,
    peers: &BTreeMap<String, Scalar>,
) -> Result<BoundPlan, Diagnostics> {
    let Some(slot) = target.rig.value.slots.get(target.slot) else {
        let mut d = Diagnostics::default();
        d.push(
            target
                .rig
                .ctx
                .error(
                    "slots",
                    format!(
                        "rig `{}` has no slot `{}`",
                        target.rig.value.rig, target.slot
                    ),
                )
                .with_optional_help(suggest::help(
                    target.slot,
                    target.rig.value.slots.keys().map(String::as_str),
                )),
        );
        return Err(d);
    };
    let fits = &target.fixture.value.fits;
    if !fits.admits(target.profile.family(), target.profile.generation()) {
        let mut d = Diagnostics::default();
        d.push(
            target
                .fixture
                .ctx
                .error(
                    "fits",
                    format!(
                        "fixture `{}` does not fit `{}`",
                        target.fixture.value.fixture, target.profile.value.profile
                    ),
                )
                .with_help(format!(
                    "it holds {} {}; use a fixture made for {}",
                    fits.family,
                    fits.generations.join(", "),
                    target.profile.generation()
                ))
                .with_related("the profile is", target.profile.origin("")),
        );
        return Err(d);
    }
    if slot.kind != target.fixture.value.slot_kind {
        let mut d = Diagnostics::default();
        d.push(
            target
                .fixture
                .ctx
                .error(
                    "slot-kind",
                    format!(
                        "fixture `{}` plugs into `{}` slots, but slot `{}` is a `{}` slot",
                        target.fixture.value.fixture,
                        target.fixture.value.slot_kind,
                        target.slot,
                        slot.kind
                    ),
                )
                .with_related(
                    "the slot is",
                    target
                        .rig
                        .ctx
                        .origin(&format!("slots.{}.kind", target.slot)),
                ),
        );
        return Err(d);
    }
    let mut b = Binder {
        cat,
        t: target,
        slot,
        diags: Diagnostics::default(),
        captures: Captures::default(),
        console_used: false,
    };
    let mut scope = b.scope(parameters);
    for (name, value) in peers {
        scope.set(name.clone(), value.clone());
    }
    let scenario = target.scenario;
    let setup = b.steps(&scenario.setup, &scope);
    let steps = b.steps(&scenario.steps, &scope);
    let teardown = b.steps(&scenario.teardown, &scope);
    let console = if b.console_used { b.console() } else { None };
    if !b.diags.is_empty() {
        return Err(b.diags);
    }
    let mut plan = BoundPlan {
        scenario: ScenarioIdentity {
            name: scenario.value.scenario.clone(),
            version: scenario.value.version,
            content_hash: scenario.content_hash.clone(),
        },
        profile: target.profile.value.profile.clone(),
        family: target.profile.family().to_owned(),
        generation: target.profile.generation().to_owned(),
        fixture: target.fixture.value.fixture.clone(),
        rig: target.rig.value.rig.clone(),
        slot: target.slot.to_owned(),
        station: target.rig.value.station.as_ref().map(|s| s.id.clone()),
        parameters: scenario
            .value
            .parameters
            .keys()
            .filter_map(|k| scope.get(k).map(|v| (k.clone(), v.clone())))
            .collect(),
        limit_set_hash: String::new(),
        chip: target.profile.value.mcu.as_ref().map(|m| m.chip.clone()),
        serial_query: identity_query(target.profile, "serial", console.is_some()),
        firmware_query: identity_query(target.profile, "firmware", console.is_some()),
        console,
        instruments: slot_instruments(cat, target.rig, slot),
        setup,
        steps,
        teardown,
    };
    plan.limit_set_hash = limit_hash::limit_set_hash(&plan);
    Ok(plan)
}

/// The profile's console question for the identity piece `name`, where the scenario uses the
/// console.
fn identity_query(profile: &ProfileEntry, name: &str, console: bool) -> Option<IdentityQuery> {
    match profile.value.identity.get(name) {
        Some(IdentitySource::Console(q)) if console => Some(IdentityQuery {
            send: q.send.clone(),
            expect: q.expect.clone(),
        }),
        _ => None,
    }
}

/// Every rig instrument a slot reaches: its own and those behind its Modbus lines.
fn slot_instruments(
    cat: &Catalog,
    rig: &Entry<Rig>,
    slot: &Slot,
) -> BTreeMap<String, InstrumentBinding> {
    let mut out = BTreeMap::new();
    let own = slot
        .instruments
        .iter()
        .map(|(alias, name)| (alias.clone(), name.clone()));
    let lines = slot.gpio.values().filter_map(|l| match l {
        rigor_model::rig::GpioLine::Modbus(m) => Some((m.instrument.clone(), m.instrument.clone())),
        _ => None,
    });
    for (alias, name) in own.chain(lines) {
        let Some(conn) = rig.value.instruments.get(&name) else {
            continue;
        };
        let Some(model) = cat.instruments.get(&conn.model) else {
            continue;
        };
        out.entry(name.clone())
            .or_insert_with(|| InstrumentBinding {
                alias,
                name,
                model: model.value.clone(),
                model_id: conn.model.clone(),
                link: conn.modbus.clone(),
            });
    }
    out
}

pub(crate) struct Binder<'a> {
    cat: &'a Catalog,
    t: Target<'a>,
    slot: &'a Slot,
    diags: Diagnostics,
    captures: Captures,
    console_used: bool,
}

/// Where a step is, for its diagnostics.
pub(crate) struct At<'p> {
    placed: &'p PlacedStep,
}

impl At<'_> {
    fn field(&self, field: &str) -> String {
        let base = join(&self.placed.path, self.placed.step.action.key());
        if field.is_empty() {
            base
        } else {
            join(&base, field)
        }
    }
    fn error(&self, field: &str, msg: impl Into<String>) -> Diagnostic {
        self.placed.ctx.error(self.field(field), msg)
    }
}

impl<'a> Binder<'a> {
    pub(super) fn profile_origin(&self, path: &str) -> Origin {
        self.t.profile.origin(path)
    }

    /// Reports a name the profile's `section` (signals, i2c, network, variables) does not define,
    /// with the nearest defined name and a note at the section.
    pub(super) fn not_in_profile<V>(
        &mut self,
        at: &At<'_>,
        field: &str,
        what: &str,
        name: &str,
        defined: &BTreeMap<String, V>,
        section: &str,
    ) {
        let profile = &self.t.profile.value.profile;
        self.diags.push(
            at.error(field, format!("profile `{profile}` has no {what} `{name}`"))
                .with_optional_help(suggest::help(name, defined.keys().map(String::as_str)))
                .with_related(
                    format!("the profile's {what}s are"),
                    self.profile_origin(section),
                ),
        );
    }

    pub(super) fn scope(&mut self, given: &BTreeMap<String, Scalar>) -> Scope {
        let mut scope = Scope::default();
        let p = self.t.profile;
        for (name, var) in &p.value.variables {
            if let Some(v) = &var.value {
                scope.set(name.clone(), v.clone());
            }
        }
        let builtins = [
            ("family", p.family().to_owned()),
            ("generation", p.generation().to_owned()),
            ("profile", p.value.profile.clone()),
            ("fixture", self.t.fixture.value.fixture.clone()),
            ("rig", self.t.rig.value.rig.clone()),
            ("slot", self.t.slot.to_owned()),
            ("scenario", self.t.scenario.value.scenario.clone()),
        ];
        for (k, v) in builtins {
            scope.set(k, Scalar::Text(v));
        }
        // The generation's banner pattern, so one scenario can wait for the banner of every generation.
        if let Some(banner) = p
            .value
            .console
            .as_ref()
            .and_then(|c| c.boot_banner.as_ref())
        {
            scope.set("boot_banner", Scalar::Text(banner.as_str().to_owned()));
        }
        let sc = &self.t.scenario;
        for (name, param) in &sc.value.parameters {
            match given.get(name).or(param.default.as_ref()) {
                Some(v) => scope.set(name.clone(), v.clone()),
                None => self.diags.push(
                    sc.ctx
                        .error(
                            join("parameters", name),
                            format!("parameter `{name}` has no default and no value was given"),
                        )
                        .with_help(format!(
                            "run with `--param {name}=VALUE`, or give it a `default:`"
                        )),
                ),
            }
        }
        for name in given.keys() {
            if !sc.value.parameters.contains_key(name) {
                self.diags.push(
                    sc.ctx
                        .error("parameters", format!("a value was given for `{name}`, which this scenario does not declare"))
                        .with_optional_help(suggest::help(name, sc.value.parameters.keys().map(String::as_str))),
                );
            }
        }
        scope
    }

    pub(super) fn steps(&mut self, steps: &[PlacedStep], scope: &Scope) -> Vec<BoundStep> {
        // A bound step is a few hundred bytes: grown by doubling, a plan's steps were copied
        // several times over.
        let mut bound = Vec::with_capacity(steps.len());
        bound.extend(steps.iter().filter_map(|s| self.step(s, scope)));
        bound
    }

    pub(super) fn step(&mut self, placed: &PlacedStep, scope: &Scope) -> Option<BoundStep> {
        let scope = match &placed.fragment_arguments {
            Some(args) => std::borrow::Cow::Owned(scope.with(args)),
            None => std::borrow::Cow::Borrowed(scope),
        };
        let scope: &Scope = &scope;
        let at = At { placed };
        let step = &placed.step;
        let default_timeout = self
            .t
            .scenario
            .value
            .defaults
            .step_timeout
            .or(self
                .t
                .profile
                .value
                .defaults
                .as_ref()
                .and_then(|d| d.step_timeout))
            .or(self.t.rig.value.defaults.step_timeout)
            .map_or(DEFAULT_STEP_TIMEOUT, |d| d.get());
        let explicit = step.timeout.map(|d| d.get());
        let timeout = explicit.unwrap_or(default_timeout);
        let measures = matches!(
            step.action,
            Action::Measure(_) | Action::GpioMeasure(_) | Action::OtaMeasure(_)
        );
        let on_fail = step.on_fail.unwrap_or(if measures {
            OnFail::Continue
        } else {
            self.t
                .scenario
                .value
                .defaults
                .on_fail
                .unwrap_or(OnFail::Stop)
        });
        let mut wait_for = |what: &str, d: Option<Duration>, binder: &mut Self| -> Duration {
            let d = d.unwrap_or(timeout);
            if let Some(t) = explicit
                && d > t
            {
                binder.diags.push(
                    at.error(
                        what,
                        format!("waits {} but the step's timeout is {}", fmt(d), fmt(t)),
                    )
                    .with_help("raise `timeout` or lower the wait"),
                );
            }
            d
        };
        let action = self.action(&at, scope, &mut wait_for)?;
        // A step's own wait (within/for/window) extends its timeout unless the step set one.
        let needed = match &action {
            BoundAction::ConsoleExpect { within, .. }
            | BoundAction::GpioExpect { within, .. }
            | BoundAction::GpioWaitEdge { within, .. } => Some(*within),
            BoundAction::GpioMeasure { window, .. } => Some(*window),
            BoundAction::GpioPulse { duration, .. } | BoundAction::Wait { duration } => {
                Some(*duration)
            }
            BoundAction::ConsoleCapture { duration, .. } => *duration,
            BoundAction::Retry {
                attempts,
                steps,
                backoff,
            } => Some(
                steps.iter().map(|s| s.timeout).sum::<Duration>() * *attempts
                    + backoff.unwrap_or_default() * attempts.saturating_sub(1),
            ),
            _ => None,
        };
        let timeout = match (explicit, needed) {
            (None, Some(n)) => timeout.max(n + Duration::from_secs(1)),
            _ => timeout,
        };
        Some(BoundStep {
            id: step.id.clone(),
            label: step.label().to_owned(),
            origin: placed.origin(),
            timeout,
            on_fail,
            action,
        })
    }

    pub(super) fn text(
        &mut self,
        at: &At<'_>,
        field: &str,
        text: &str,
        scope: &Scope,
    ) -> Option<String> {
        match scope.substitute(text) {
            Ok(s) => Some(s),
            Err(e) => {
                self.diags.push(
                    at.error(field, format!("unknown variable `${{{}}}`", e.name))
                        .with_optional_help(e.help),
                );
                None
            }
        }
    }
}

impl Binder<'_> {
    /// A console pattern with its variables substituted, compiled once: a pattern without
    /// variables is the one compiled at load; one that is exactly the generation's banner is the
    /// profile's, compiled at load too; only other substituted text is compiled here. `None`,
    /// with a diagnostic, if it does not compile (one without variables was reported at load).
    pub(super) fn pattern(
        &mut self,
        at: &At<'_>,
        field: &str,
        written: &Pattern,
        scope: &Scope,
    ) -> Option<Pattern> {
        if !written.has_variables() {
            return written.regex().is_ok().then(|| written.clone());
        }
        let text = self.text(at, field, written.as_str(), scope)?;
        let banner = self.t.profile.value.console.as_ref();
        let pattern = match banner.and_then(|c| c.boot_banner.as_ref()) {
            Some(banner) if banner.as_str() == text => banner.clone(),
            _ => Pattern::new(text),
        };
        if let Err(e) = pattern.regex() {
            self.diags.push(at.error(
                field,
                format!(
                    "invalid regular expression after substitution: {}",
                    rigor_model::check::regex_error(e)
                ),
            ));
            return None;
        }
        Some(pattern)
    }
}

fn fmt(d: Duration) -> String {
    rigor_model::duration::HumanDuration(d).to_string()
}
