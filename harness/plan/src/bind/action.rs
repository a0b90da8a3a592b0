//! Binding each kind of step: the dispatch from a step as written to a bound action.

use rigor_model::rig::{Permission, UpdateServerPoint};

use super::*;

impl Binder<'_> {
    pub(super) fn action(
        &mut self,
        at: &At<'_>,
        scope: &Scope,
        wait_for: &mut dyn FnMut(&str, Option<Duration>, &mut Self) -> Duration,
    ) -> Option<BoundAction> {
        let step = &at.placed.step;
        Some(match &step.action {
            Action::Flash(f) => {
                self.permitted(at, Permission::Flash)?;
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
            Action::ConsoleBaud(baud) => {
                self.console_profile(at)?;
                BoundAction::ConsoleBaud { baud: *baud }
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
                let pattern = self.pattern(at, "pattern", &e.pattern, scope)?;
                if let Ok(re) = pattern.regex() {
                    re.capture_names()
                        .flatten()
                        .for_each(|n| self.captures.define(n));
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
                let memory = self
                    .t
                    .profile
                    .value
                    .i2c
                    .get(&w.device)
                    .is_some_and(|d| d.size.is_some());
                if memory {
                    self.permitted(at, Permission::Provision)?;
                }
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
            Action::OtaOffer(o) => {
                let server = self.update_server(at);
                let image = self.text(at, "image", &o.image, scope);
                BoundAction::OtaOffer {
                    server: server?,
                    image: image?,
                    cut_after: o.cut_after,
                    cuts: o.cuts.unwrap_or(1),
                    corrupt: o.corrupt,
                    truncate: o.truncate,
                    stall: o.stall.as_ref().map(|s| (s.after, s.duration.get())),
                }
            }
            Action::OtaMeasure(m) => {
                let server = self.update_server(at);
                let limits = self.limits(at, &m.limits, Some((m.quantity.unit(), None)));
                BoundAction::OtaMeasure {
                    server: server?,
                    name: m.name.clone(),
                    quantity: m.quantity,
                    limits: limits?,
                }
            }
            Action::Wait(d) => BoundAction::Wait { duration: d.get() },
            Action::Barrier(name) => BoundAction::Barrier { name: name.clone() },
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
                    pattern: p.pattern.clone(),
                    // Checked by `rigor check`; a picture gone since shows as missing, no more.
                    image: p.image.as_ref().map(|image| {
                        rigor_model::check_step::prompt_image_path(&at.placed.ctx.file, image)
                    }),
                }
            }
            Action::Shell(s) => {
                self.permitted(at, Permission::Shell)?;
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

    /// The slot's update server; if it has none, says so at the step and how to give it one.
    fn update_server(&mut self, at: &At<'_>) -> Option<UpdateServerPoint> {
        if let Some(point) = &self.slot.update_server {
            return Some(point.clone());
        }
        let rig = &self.t.rig;
        self.diags.push(
            at.error(
                "",
                format!(
                    "slot `{}` of rig `{}` has no update server",
                    self.t.slot, rig.value.rig
                ),
            )
            .with_help(
                "add `update-server: virtual` (the virtual bench) or `update-server: { listen: HOST:PORT }` to the slot",
            )
            .with_related("the rig is", rig.ctx.origin("")),
        );
        None
    }

    /// Whether the rig grants `p`; if not, says so at the step and where to grant it.
    fn permitted(&mut self, at: &At<'_>, p: Permission) -> Option<()> {
        let rig = &self.t.rig;
        if rig.value.permissions.grants(p) {
            return Some(());
        }
        self.diags.push(
            at.error(
                "",
                format!(
                    "rig `{}` does not permit this step to {} (permission `{}`)",
                    rig.value.rig,
                    p.act(),
                    p.key()
                ),
            )
            .with_help(format!(
                "a station does this only if its owner says so: `permissions: {{ {}: true }}` in the rig",
                p.key()
            ))
            .with_related("the rig is", rig.ctx.origin("")),
        );
        None
    }
}
