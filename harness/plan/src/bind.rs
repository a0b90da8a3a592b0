//! Binding: (scenario × profile × fixture × rig slot) → bound plan. Pure: no I/O, no hardware.
//!
//! Every problem is reported at the scenario step that has it, with a note pointing at the other
//! side (the profile, fixture, rig or instrument model that lacks what the step needs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rigor_model::Catalog;
use rigor_model::action::{Edge, RegisterRef};
use rigor_model::catalog::{Entry, PlacedStep, ProfileEntry, ScenarioEntry};
use rigor_model::diagnostic::{Diagnostic, Diagnostics, Origin, join};
use rigor_model::fixture::Fixture;
use rigor_model::limits::Limits;
use rigor_model::profile::{ActiveLevel, Direction, FlashMethod};
use rigor_model::rig::{PowerSwitch, Probe, Rig, Slot};
use rigor_model::step::{Action, OnFail};
use rigor_model::suggest;
use rigor_model::unit::Unit;
use rigor_model::value::Scalar;
use sha2::{Digest, Sha256};

use crate::plan::{
    BoundAction, BoundLimits, BoundPlan, BoundStep, ConsoleBinding, I2cTarget, InstrumentBinding,
    LineBinding, LinkBinding, MeasureSource, PowerBinding, ScenarioIdentity,
};
use crate::scope::{Captures, Scope};

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
    if fits.family != target.profile.family()
        || !fits
            .generations
            .iter()
            .any(|g| g == target.profile.generation())
    {
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
    let scope = b.scope(parameters);
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
        console,
        setup,
        steps,
        teardown,
    };
    plan.limit_set_hash = limit_set_hash(&plan);
    Ok(plan)
}

fn limit_set_hash(plan: &BoundPlan) -> String {
    let mut h = Sha256::new();
    for step in plan.all_steps() {
        let (name, limits) = match &step.action {
            BoundAction::Measure { name, limits, .. }
            | BoundAction::GpioMeasure { name, limits, .. } => (name, limits),
            _ => continue,
        };
        h.update(name.as_bytes());
        let described = serde_json::json!({
            "comparator": limits.comparator, "unit": limits.unit, "marginal": limits.marginal,
        });
        h.update(described.to_string().as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct Binder<'a> {
    cat: &'a Catalog,
    t: Target<'a>,
    slot: &'a Slot,
    diags: Diagnostics,
    captures: Captures,
    console_used: bool,
}

/// Where a step is, for its diagnostics.
struct At<'p> {
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
    fn profile_origin(&self, path: &str) -> Origin {
        self.t.profile.origin(path)
    }

    fn scope(&mut self, given: &BTreeMap<String, Scalar>) -> Scope {
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
        if let Some(banner) = p.value.console.as_ref().and_then(|c| c.boot_banner.clone()) {
            scope.set("boot_banner", Scalar::Text(banner));
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

    fn steps(&mut self, steps: &[PlacedStep], scope: &Scope) -> Vec<BoundStep> {
        steps.iter().filter_map(|s| self.step(s, scope)).collect()
    }

    fn step(&mut self, placed: &PlacedStep, scope: &Scope) -> Option<BoundStep> {
        let scope = match &placed.fragment_arguments {
            Some(args) => scope.with(args),
            None => scope.clone(),
        };
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
        let measures = matches!(step.action, Action::Measure(_) | Action::GpioMeasure(_));
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
        let action = self.action(&at, &scope, &mut wait_for)?;
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

    fn text(&mut self, at: &At<'_>, field: &str, text: &str, scope: &Scope) -> Option<String> {
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

    fn action(
        &mut self,
        at: &At<'_>,
        scope: &Scope,
        wait_for: &mut dyn FnMut(&str, Option<Duration>, &mut Self) -> Duration,
    ) -> Option<BoundAction> {
        let step = &at.placed.step;
        Some(match &step.action {
            Action::Flash(f) => {
                let image = self.text(at, "image", &f.image, scope);
                let (method, probe) = self.flash_method(at, f.method)?;
                let rules = self.t.profile.value.flash.as_ref();
                BoundAction::Flash {
                    image: image?,
                    method,
                    probe,
                    verify: f.verify,
                    formats: rules.map(|r| r.formats.clone()).unwrap_or_default(),
                    signing: rules.and_then(|r| r.signing.clone()),
                    base_address: rules.and_then(|r| r.base_address),
                }
            }
            Action::Power(p) => {
                let switch = self.power_switch(at)?;
                let Some(power) = &self.t.profile.value.power else {
                    self.diags.push(
                        at.error("", format!("profile `{}` says nothing of power", self.t.profile.value.profile))
                            .with_help("add `power: { nominal-volts: ..., current-limit-amps: ... }` to the profile")
                            .with_related("the profile is", self.profile_origin("")),
                    );
                    return None;
                };
                BoundAction::Power {
                    state: p.state,
                    volts: p.volts.unwrap_or(power.nominal_volts),
                    current_limit_amps: power.current_limit_amps,
                    off_for: p.off_for.map_or(Duration::from_millis(500), |d| d.get()),
                    switch,
                }
            }
            Action::ConsoleSend(s) => {
                let console = self.console_profile(at)?;
                let text = self.text(at, "text", &s.text, scope)?;
                BoundAction::ConsoleSend {
                    text,
                    line_ending: s.line_ending.unwrap_or(console.line_ending),
                    char_delay: s.char_delay.or(console.char_delay).map(|d| d.get()),
                }
            }
            Action::ConsoleExpect(e) => {
                self.console_profile(at)?;
                let pattern = self.text(at, "pattern", &e.pattern, scope)?;
                match regex::Regex::new(&pattern) {
                    Ok(re) => re
                        .capture_names()
                        .flatten()
                        .for_each(|n| self.captures.define(n)),
                    Err(err) => {
                        // An invalid pattern as written was reported when the scenario was loaded.
                        if e.pattern.contains("${") || regex::Regex::new(&e.pattern).is_ok() {
                            let why = rigor_model::check::regex_error(&err);
                            self.diags.push(at.error(
                                "pattern",
                                format!("invalid regular expression after substitution: {why}"),
                            ));
                        }
                        return None;
                    }
                }
                let within = wait_for("within", e.within.map(|d| d.get()), self);
                BoundAction::ConsoleExpect { pattern, within }
            }
            Action::ConsoleCapture(c) => {
                self.console_profile(at)?;
                self.captures.define(&c.name);
                BoundAction::ConsoleCapture {
                    name: c.name.clone(),
                    until: c.until.clone(),
                    duration: c.duration.map(|d| d.get()),
                }
            }
            Action::GpioSet(g) => {
                let line = self.line(at, &g.signal, Some(Direction::Input))?;
                let high = self.level(at, &g.signal, &g.level, &line)?;
                BoundAction::GpioSet { line, high }
            }
            Action::GpioPulse(g) => {
                let line = self.line(at, &g.signal, Some(Direction::Input))?;
                let high = self.level(at, &g.signal, &g.level, &line)?;
                BoundAction::GpioPulse {
                    line,
                    high,
                    duration: g.duration.get(),
                }
            }
            Action::GpioRead(g) => {
                let line = self.line(at, &g.signal, None)?;
                self.captures.define(&g.name);
                BoundAction::GpioRead {
                    line,
                    name: g.name.clone(),
                }
            }
            Action::GpioExpect(g) => {
                let line = self.line(at, &g.signal, None)?;
                let high = self.level(at, &g.signal, &g.level, &line)?;
                let within = g.within.map_or(Duration::ZERO, |d| d.get());
                let within = wait_for("within", Some(within), self);
                BoundAction::GpioExpect { line, high, within }
            }
            Action::GpioWaitEdge(g) => {
                let line = self.line(at, &g.signal, None)?;
                // Edges are written as the signal sees them; an active-low line's rising is electrically falling.
                let edge = match (g.edge, line.active_low) {
                    (Edge::Rising, true) => Edge::Falling,
                    (Edge::Falling, true) => Edge::Rising,
                    (e, _) => e,
                };
                let within = wait_for("within", g.within.map(|d| d.get()), self);
                BoundAction::GpioWaitEdge { line, edge, within }
            }
            Action::GpioMeasure(g) => {
                let line = self.line(at, &g.signal, None);
                let limits = self.limits(at, &g.limits, Some((g.quantity.unit(), None)));
                BoundAction::GpioMeasure {
                    name: g.name.clone(),
                    line: line?,
                    quantity: g.quantity,
                    window: g.window.get(),
                    limits: limits?,
                }
            }
            Action::I2cRead(r) => {
                let target = self.i2c(at, &r.device)?;
                let (register, width) = self.register(at, &r.device, &r.register)?;
                self.captures.define(&r.name);
                BoundAction::I2cRead {
                    target,
                    register,
                    bytes: r.bytes.unwrap_or(width),
                    name: r.name.clone(),
                }
            }
            Action::I2cWrite(w) => {
                let target = self.i2c(at, &w.device)?;
                let (register, _) = self.register(at, &w.device, &w.register)?;
                BoundAction::I2cWrite {
                    target,
                    register,
                    data: w.data.clone(),
                }
            }
            Action::I2cExpect(e) => {
                let target = self.i2c(at, &e.device)?;
                let (register, _) = self.register(at, &e.device, &e.register)?;
                if let Some(mask) = &e.mask
                    && mask.len() != e.equals.len()
                {
                    self.diags.push(at.error(
                        "mask",
                        format!(
                            "{} mask bytes for {} expected bytes",
                            mask.len(),
                            e.equals.len()
                        ),
                    ));
                }
                BoundAction::I2cExpect {
                    target,
                    register,
                    equals: e.equals.clone(),
                    mask: e.mask.clone(),
                }
            }
            Action::InstrumentRead(r) => {
                let (instrument, channel) = self.channel(at, "channel", &r.channel)?;
                self.captures.define(&r.name);
                BoundAction::InstrumentRead {
                    instrument,
                    channel,
                    name: r.name.clone(),
                }
            }
            Action::InstrumentWrite(w) => {
                let (instrument, channel) = self.channel(at, "channel", &w.channel)?;
                let ch = &instrument.model.channels[&channel];
                if !ch.writable {
                    self.diags.push(
                        at.error(
                            "channel",
                            format!(
                                "channel `{channel}` of `{}` is read-only",
                                instrument.model_id
                            ),
                        )
                        .with_related("the channel is", self.model_origin(&instrument, &channel)),
                    );
                }
                let ok = matches!(
                    (&w.value, ch.is_bool()),
                    (Scalar::Bool(_), true) | (Scalar::Number(_), false)
                );
                if !ok {
                    let want = if ch.is_bool() {
                        "true or false"
                    } else {
                        "a number"
                    };
                    self.diags
                        .push(at.error("value", format!("channel `{channel}` takes {want}")));
                }
                BoundAction::InstrumentWrite {
                    instrument,
                    channel,
                    value: w.value.clone(),
                }
            }
            Action::Measure(m) => self.measure(at, m, scope)?,
            Action::NetImpair(n) => BoundAction::NetImpair {
                link: self.link(at, &n.link)?,
                latency: n.latency.map(|d| d.get()),
                jitter: n.jitter.map(|d| d.get()),
                loss_percent: n.loss_percent,
                bandwidth_kbps: n.bandwidth_kbps,
                partition: n.partition,
                duration: n.duration.map(|d| d.get()),
            },
            Action::NetClear(n) => BoundAction::NetClear {
                link: self.link(at, &n.link)?,
            },
            Action::Wait(d) => BoundAction::Wait { duration: d.get() },
            Action::Retry(r) => {
                let steps = self.steps(&at.placed.inner, scope);
                BoundAction::Retry {
                    attempts: r.attempts,
                    backoff: r.backoff.map(|d| d.get()),
                    steps,
                }
            }
            Action::Prompt(p) => {
                let message = self.text(at, "message", &p.message, scope)?;
                if let Some(name) = &p.input {
                    self.captures.define(name);
                }
                BoundAction::Prompt {
                    message,
                    input: p.input.clone(),
                    choices: p.choices.clone(),
                }
            }
            Action::Shell(s) => {
                if !self.t.rig.value.allow_shell {
                    self.diags.push(
                        at.error("", format!("rig `{}` does not allow shell steps", self.t.rig.value.rig))
                            .with_help("a station runs commands only if its owner says so: `allow-shell: true` in the rig")
                            .with_related("the rig is", self.t.rig.ctx.origin("")),
                    );
                    return None;
                }
                if let Some(name) = &s.output {
                    self.captures.define(name);
                }
                BoundAction::Shell {
                    run: self.text(at, "run", &s.run, scope)?,
                    expect_exit: s.expect_exit,
                    output: s.output.clone(),
                }
            }
            // Includes were expanded when the scenario was loaded.
            Action::Include(_) => return None,
        })
    }

    fn flash_method(
        &mut self,
        at: &At<'_>,
        forced: Option<FlashMethod>,
    ) -> Option<(FlashMethod, Probe)> {
        let Some(probe) = &self.slot.probe else {
            self.diags.push(
                at.error(
                    "",
                    format!(
                        "slot `{}` of rig `{}` has no debug probe",
                        self.t.slot, self.t.rig.value.rig
                    ),
                )
                .with_related(
                    "the slot is",
                    self.t.rig.ctx.origin(&format!("slots.{}", self.t.slot)),
                ),
            );
            return None;
        };
        let supported = match probe {
            Probe::ProbeRs(_) => FlashMethod::ProbeRs,
            Probe::GdbRemote(_) => FlashMethod::GdbRemote,
            Probe::Virtual => FlashMethod::Virtual,
        };
        let methods = self
            .t
            .profile
            .value
            .flash
            .as_ref()
            .map(|f| f.methods.clone())
            .unwrap_or_default();
        let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
        if let Some(m) = forced
            && m != supported
        {
            self.diags.push(
                at.error(
                    "method",
                    format!(
                        "the slot's probe is `{}`, so it cannot flash with `{}`",
                        supported.name(),
                        m.name()
                    ),
                )
                .with_related(
                    "the probe is",
                    self.t
                        .rig
                        .ctx
                        .origin(&format!("slots.{}.probe", self.t.slot)),
                ),
            );
            return None;
        }
        if !methods.contains(&supported) {
            self.diags.push(
                at.error(
                    "",
                    format!(
                        "the slot's probe is `{}`, but `{}` is flashed with: {}",
                        supported.name(),
                        self.t.profile.value.profile,
                        if names.is_empty() {
                            "nothing (no `flash:` in the profile)".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                )
                .with_related(
                    "the profile's methods are",
                    self.profile_origin("flash.methods"),
                ),
            );
            return None;
        }
        Some((supported, probe.clone()))
    }

    fn model_origin(&self, instrument: &InstrumentBinding, channel: &str) -> Origin {
        self.cat.instruments.get(&instrument.model_id).map_or_else(
            || self.t.rig.ctx.origin("instruments"),
            |m| m.ctx.origin(&join("channels", channel)),
        )
    }

    fn instrument(&mut self, at: &At<'_>, field: &str, alias: &str) -> Option<InstrumentBinding> {
        let Some(name) = self.slot.instruments.get(alias) else {
            self.diags.push(
                at.error(
                    field,
                    format!("slot `{}` has no instrument named `{alias}`", self.t.slot),
                )
                .with_optional_help(suggest::help(
                    alias,
                    self.slot.instruments.keys().map(String::as_str),
                ))
                .with_related(
                    "the slot is",
                    self.t
                        .rig
                        .ctx
                        .origin(&format!("slots.{}.instruments", self.t.slot)),
                ),
            );
            return None;
        };
        let conn = self.t.rig.value.instruments.get(name)?;
        let model = self.cat.instruments.get(&conn.model)?;
        Some(InstrumentBinding {
            alias: alias.to_owned(),
            name: name.clone(),
            model: Arc::new(model.value.clone()),
            model_id: conn.model.clone(),
            link: conn.modbus.clone(),
        })
    }

    /// Resolves `alias.channel`.
    fn channel(
        &mut self,
        at: &At<'_>,
        field: &str,
        reference: &str,
    ) -> Option<(InstrumentBinding, String)> {
        let Some((alias, channel)) = reference.split_once('.') else {
            self.diags.push(
                at.error(
                    field,
                    format!("`{reference}` does not name an instrument channel"),
                )
                .with_help("write INSTRUMENT.CHANNEL, e.g. `psu.current`"),
            );
            return None;
        };
        let instrument = self.instrument(at, field, alias)?;
        if !instrument.model.channels.contains_key(channel) {
            self.diags.push(
                at.error(
                    field,
                    format!(
                        "instrument model `{}` has no channel `{channel}`",
                        instrument.model_id
                    ),
                )
                .with_optional_help(suggest::help(
                    channel,
                    instrument.model.channels.keys().map(String::as_str),
                ))
                .with_related("the model is", self.model_origin(&instrument, "")),
            );
            return None;
        }
        Some((instrument, channel.to_owned()))
    }

    fn power_switch(&mut self, at: &At<'_>) -> Option<PowerBinding> {
        let Some(switch) = &self.slot.power else {
            self.diags.push(
                at.error(
                    "",
                    format!(
                        "slot `{}` of rig `{}` has no power switch",
                        self.t.slot, self.t.rig.value.rig
                    ),
                )
                .with_help("describe it in the slot: `power: { supply: { instrument: psu } }`")
                .with_related(
                    "the slot is",
                    self.t.rig.ctx.origin(&format!("slots.{}", self.t.slot)),
                ),
            );
            return None;
        };
        Some(match switch {
            PowerSwitch::Supply(s) => PowerBinding::Supply {
                instrument: self.instrument(at, "", &s.instrument)?,
                enable: s.enable.clone(),
                set_voltage: s.set_voltage.clone(),
                set_current: s.set_current.clone(),
            },
            PowerSwitch::Relay(r) => PowerBinding::Relay {
                instrument: self.instrument(at, "", &r.instrument)?,
                channel: r.channel.clone(),
            },
        })
    }

    fn console_profile(&mut self, at: &At<'_>) -> Option<rigor_model::profile::Console> {
        self.console_used = true;
        let Some(console) = self.t.profile.value.console.clone() else {
            self.diags.push(
                at.error(
                    "",
                    format!("profile `{}` has no console", self.t.profile.value.profile),
                )
                .with_related("the profile is", self.profile_origin("")),
            );
            return None;
        };
        if self.t.fixture.value.console.is_none() {
            self.diags.push(
                at.error(
                    "",
                    format!(
                        "fixture `{}` does not wire the console",
                        self.t.fixture.value.fixture
                    ),
                )
                .with_help("add `console: CHANNEL` to the fixture")
                .with_related("the fixture is", self.t.fixture.ctx.origin("")),
            );
            return None;
        }
        Some(console)
    }

    fn console(&mut self) -> Option<ConsoleBinding> {
        let console = self.t.profile.value.console.as_ref()?;
        let channel = self.t.fixture.value.console.clone()?;
        let port = self.slot.serial.get(&channel)?.clone();
        Some(ConsoleBinding {
            channel,
            port,
            baud: console.baud,
            line_ending: console.line_ending,
            char_delay: console.char_delay.map(|d| d.get()),
        })
    }

    fn line(
        &mut self,
        at: &At<'_>,
        signal: &str,
        must_be: Option<Direction>,
    ) -> Option<LineBinding> {
        let profile = &self.t.profile.value;
        let Some(def) = profile.signals.get(signal) else {
            self.diags.push(
                at.error(
                    "signal",
                    format!("profile `{}` has no signal `{signal}`", profile.profile),
                )
                .with_optional_help(suggest::help(
                    signal,
                    profile.signals.keys().map(String::as_str),
                ))
                .with_related("the profile's signals are", self.profile_origin("signals")),
            );
            return None;
        };
        let fixture = self.t.fixture;
        let Some(channel) = fixture.value.signals.get(signal) else {
            self.diags.push(
                at.error(
                    "signal",
                    format!(
                        "fixture `{}` does not wire signal `{signal}`",
                        fixture.value.fixture
                    ),
                )
                .with_help(format!(
                    "wire it in the fixture: `signals: {{ {signal}: CHANNEL }}`"
                ))
                .with_related("the fixture is", fixture.ctx.origin("signals")),
            );
            return None;
        };
        if let Some(Direction::Input) = must_be
            && def.direction == Direction::Output
        {
            self.diags.push(
                at.error(
                    "signal",
                    format!("`{signal}` is an output of the device; the rig can only read it"),
                )
                .with_related(
                    "the signal is",
                    self.profile_origin(&join("signals", signal)),
                ),
            );
            return None;
        }
        let line = self.slot.gpio.get(channel)?.clone();
        Some(LineBinding {
            signal: signal.to_owned(),
            channel: channel.clone(),
            line,
            active_low: def.active == ActiveLevel::Low,
        })
    }

    /// Resolves a level name to an electrical level (true is high).
    fn level(
        &mut self,
        at: &At<'_>,
        signal: &str,
        level: &str,
        line: &LineBinding,
    ) -> Option<bool> {
        let def = self.t.profile.value.signals.get(signal)?;
        let mut names = vec!["active", "inactive", "high", "low"];
        if let Some(s) = &def.states {
            names.push(&s.active);
            names.push(&s.inactive);
        }
        let active = match level {
            "high" => return Some(true),
            "low" => return Some(false),
            "active" => true,
            "inactive" => false,
            l if def.states.as_ref().is_some_and(|s| s.active == l) => true,
            l if def.states.as_ref().is_some_and(|s| s.inactive == l) => false,
            _ => {
                let help = suggest::help(level, names.iter().copied());
                self.diags.push(
                    at.error("level", format!("`{level}` is not a level of `{signal}`"))
                        .with_optional_help(help)
                        .with_related(
                            "the signal is",
                            self.profile_origin(&join("signals", signal)),
                        ),
                );
                return None;
            }
        };
        Some(active != line.active_low)
    }

    fn i2c(&mut self, at: &At<'_>, device: &str) -> Option<I2cTarget> {
        let profile = &self.t.profile.value;
        let Some(part) = profile.i2c.get(device) else {
            self.diags.push(
                at.error(
                    "device",
                    format!("profile `{}` has no I²C part `{device}`", profile.profile),
                )
                .with_optional_help(suggest::help(
                    device,
                    profile.i2c.keys().map(String::as_str),
                ))
                .with_related("the profile's I²C parts are", self.profile_origin("i2c")),
            );
            return None;
        };
        let Some(channel) = self.t.fixture.value.i2c.clone() else {
            self.diags.push(
                at.error(
                    "device",
                    format!(
                        "fixture `{}` does not wire the I²C bus",
                        self.t.fixture.value.fixture
                    ),
                )
                .with_related("the fixture is", self.t.fixture.ctx.origin("")),
            );
            return None;
        };
        let bus = self.slot.i2c.get(&channel)?.clone();
        Some(I2cTarget {
            channel,
            bus,
            device: device.to_owned(),
            address: part.address,
        })
    }

    fn register(&mut self, at: &At<'_>, device: &str, r: &RegisterRef) -> Option<(u8, u8)> {
        let part = self.t.profile.value.i2c.get(device)?;
        match r {
            RegisterRef::Address(a) => Some((
                *a,
                part.registers
                    .values()
                    .find(|x| x.address == *a)
                    .map_or(1, |x| x.bytes),
            )),
            RegisterRef::Name(n) => match part.registers.get(n) {
                Some(reg) => Some((reg.address, reg.bytes)),
                None => {
                    self.diags.push(
                        at.error(
                            "register",
                            format!("I²C part `{device}` has no register `{n}`"),
                        )
                        .with_optional_help(suggest::help(
                            n,
                            part.registers.keys().map(String::as_str),
                        ))
                        .with_related("the part is", self.profile_origin(&join("i2c", device))),
                    );
                    None
                }
            },
        }
    }

    fn link(&mut self, at: &At<'_>, link: &str) -> Option<LinkBinding> {
        let profile = &self.t.profile.value;
        if !profile.network.contains_key(link) {
            self.diags.push(
                at.error(
                    "link",
                    format!("profile `{}` has no network link `{link}`", profile.profile),
                )
                .with_optional_help(suggest::help(
                    link,
                    profile.network.keys().map(String::as_str),
                ))
                .with_related("the profile is", self.profile_origin("network")),
            );
            return None;
        }
        let Some(channel) = self.t.fixture.value.network.get(link) else {
            self.diags.push(
                at.error(
                    "link",
                    format!(
                        "fixture `{}` does not route link `{link}` through an impairment point",
                        self.t.fixture.value.fixture
                    ),
                )
                .with_help(format!(
                    "add `network: {{ {link}: CHANNEL }}` to the fixture"
                ))
                .with_related("the fixture is", self.t.fixture.ctx.origin("")),
            );
            return None;
        };
        let point = self.slot.net.get(channel)?.clone();
        Some(LinkBinding {
            link: link.to_owned(),
            channel: channel.clone(),
            point,
        })
    }

    fn measure(
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
            let tree = evalexpr::build_operator_tree::<evalexpr::DefaultNumericTypes>(expr).ok()?;
            for var in tree.iter_variable_identifiers() {
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

    /// Resolves limits (from the profile if they say so) and checks their unit against the source's.
    fn limits(
        &mut self,
        at: &At<'_>,
        limits: &Limits,
        source: Option<(Unit, Option<Origin>)>,
    ) -> Option<BoundLimits> {
        let field = |f: &str| join("limits", f);
        let (checked, origin) = if let Some(var) = &limits.from_profile {
            let profile = &self.t.profile.value;
            let Some(v) = profile.variables.get(var) else {
                self.diags.push(
                    at.error(
                        &field("from-profile"),
                        format!("profile `{}` has no variable `{var}`", profile.profile),
                    )
                    .with_optional_help(suggest::help(
                        var,
                        profile.variables.keys().map(String::as_str),
                    ))
                    .with_related(
                        "the profile's variables are",
                        self.profile_origin("variables"),
                    ),
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

fn fmt(d: Duration) -> String {
    rigor_model::duration::HumanDuration(d).to_string()
}
