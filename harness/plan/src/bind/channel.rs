//! Resolving a step's logical names (signals, I²C parts, instrument channels, links, the console,
//! the probe and the power switch) through the profile, fixture and rig slot to concrete channels.

use super::*;

impl Binder<'_> {
    pub(super) fn flash_method(
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

    pub(super) fn model_origin(&self, instrument: &InstrumentBinding, channel: &str) -> Origin {
        self.cat.instruments.get(&instrument.model_id).map_or_else(
            || self.t.rig.ctx.origin("instruments"),
            |m| m.ctx.origin(&join("channels", channel)),
        )
    }

    pub(super) fn instrument(
        &mut self,
        at: &At<'_>,
        field: &str,
        alias: &str,
    ) -> Option<InstrumentBinding> {
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
            model: model.value.clone(),
            model_id: conn.model.clone(),
            link: conn.modbus.clone(),
        })
    }

    pub(super) fn channel(
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

    pub(super) fn power_switch(&mut self, at: &At<'_>) -> Option<PowerBinding> {
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
            PowerSwitch::UsbHub(h) => PowerBinding::UsbHub {
                hub: h.hub.clone(),
                port: h.port,
            },
        })
    }

    pub(super) fn console_profile(&mut self, at: &At<'_>) -> Option<rigor_model::profile::Console> {
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

    pub(super) fn console(&mut self) -> Option<ConsoleBinding> {
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

    pub(super) fn line(
        &mut self,
        at: &At<'_>,
        signal: &str,
        must_be: Option<Direction>,
    ) -> Option<LineBinding> {
        let profile = &self.t.profile.value;
        let Some(def) = profile.signals.get(signal) else {
            self.not_in_profile(at, "signal", "signal", signal, &profile.signals, "signals");
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

    pub(super) fn level(
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

    pub(super) fn i2c(&mut self, at: &At<'_>, device: &str) -> Option<I2cTarget> {
        let profile = &self.t.profile.value;
        let Some(part) = profile.i2c.get(device) else {
            self.not_in_profile(at, "device", "I²C part", device, &profile.i2c, "i2c");
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

    pub(super) fn register(
        &mut self,
        at: &At<'_>,
        device: &str,
        r: &RegisterRef,
    ) -> Option<(u8, u8)> {
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

    pub(super) fn link(&mut self, at: &At<'_>, link: &str) -> Option<LinkBinding> {
        let profile = &self.t.profile.value;
        if !profile.network.contains_key(link) {
            self.not_in_profile(
                at,
                "link",
                "network link",
                link,
                &profile.network,
                "network",
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
}
