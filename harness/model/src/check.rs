//! Checks of each file on its own and of references between files (rig → instrument model,
//! fixture → profile and rig slots, scenario → family). Binding checks what needs a concrete
//! (scenario, generation, fixture, slot) combination; this pass checks what does not.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{Catalog, Entry, ProfileEntry};
use crate::diagnostic::{Diagnostics, FileContext, join};
use crate::fixture::Fixture;
use crate::instrument::{InstrumentModel, Table};
use crate::rig::{
    GpioLine, I2cBus, ImpairmentPoint, ModbusLink, PowerSwitch, Probe, Rig, SerialPort, Slot,
};
use crate::suggest;

pub use crate::check_scenario::{all_steps, scenario};

/// Checks a merged profile on its own.
pub fn profile(entry: &ProfileEntry, diags: &mut Diagnostics) {
    let p = &entry.value;
    let err =
        |path: &str, msg: String| crate::diagnostic::Diagnostic::new(entry.origin(path), path, msg);
    for (field, value) in [("family", &p.family), ("generation", &p.generation)] {
        if value.is_none() {
            diags.push(
                err("", format!("missing required key `{field}`")).with_help(format!(
                    "set `{field}` here or in the profile this one extends"
                )),
            );
        }
    }
    if let Some(console) = &p.console
        && let Some(banner) = &console.boot_banner
        && let Err(e) = banner.regex()
    {
        diags.push(err(
            "console.boot-banner",
            format!("invalid regular expression: {}", regex_error(e)),
        ));
    }
    if let Some(signing) = p.flash.as_ref().and_then(|f| f.signing.as_ref()) {
        for (name, key) in &signing.trusted_keys {
            if key.key().is_err() {
                diags.push(
                    err(
                        &join("flash.signing.trusted-keys", name),
                        format!("`{key}` is not an ed25519 public key"),
                    )
                    .with_help(
                        "32 bytes in base64 (44 characters), as `rigor image keygen` prints",
                    ),
                );
            }
        }
    }
    for (name, source) in &p.identity {
        let path = join("identity", name);
        match source {
            crate::profile::IdentitySource::Console(q) => match q.expect.regex() {
                Ok(re) if re.capture_names().flatten().count() == 1 => {}
                Ok(_) => diags.push(
                    err(
                        &join(&path, "console.expect"),
                        "the pattern needs exactly one named group".into(),
                    )
                    .with_help(format!("e.g. `serial: (?P<{name}>\\S+)`")),
                ),
                Err(e) => diags.push(err(
                    &join(&path, "console.expect"),
                    format!("invalid regular expression: {}", regex_error(e)),
                )),
            },
            crate::profile::IdentitySource::I2c(q) => {
                if !p.i2c.contains_key(&q.device) {
                    let help = suggest::help(&q.device, p.i2c.keys().map(String::as_str));
                    diags.push(
                        err(
                            &join(&path, "i2c.device"),
                            format!("no I²C part `{}` in this profile", q.device),
                        )
                        .with_optional_help(help),
                    );
                }
            }
        }
    }
    for (name, v) in &p.variables {
        // Limits taken `from-profile` judge every unit: NaN or infinity would judge none right.
        for (key, bound) in [("low", v.low), ("high", v.high)] {
            if let Some(x) = bound.filter(|x| !x.is_finite()) {
                diags.push(
                    err(
                        &join(&join("variables", name), key),
                        format!("`{x}` is not a finite number"),
                    )
                    .with_help("write a number: NaN and infinity can never judge a unit"),
                );
            }
        }
        if let (Some(lo), Some(hi)) = (v.low, v.high)
            && lo > hi
        {
            diags.push(err(
                &join(&join("variables", name), "low"),
                format!("low {lo} is above high {hi}"),
            ));
        }
        if (v.low.is_some() || v.high.is_some()) && v.unit.is_none() {
            diags.push(
                err(&join("variables", name), "a range needs a `unit`".into())
                    .with_help("add e.g. `unit: A`"),
            );
        }
    }
    if let Some(power) = &p.power {
        let (lo, hi) = (
            power.min_volts.unwrap_or(f64::MIN),
            power.max_volts.unwrap_or(f64::MAX),
        );
        if !(lo..=hi).contains(&power.nominal_volts) {
            diags.push(err(
                "power.nominal-volts",
                format!(
                    "nominal {} V lies outside min..max ({lo}..{hi} V)",
                    power.nominal_volts
                ),
            ));
        }
    }
    if let Some(flash) = &p.flash {
        if flash.methods.is_empty() {
            diags.push(
                err("flash.methods", "no flash method".into())
                    .with_help("list at least one of probe-rs, gdb-remote, virtual"),
            );
        }
        if let Some(floor) = flash
            .signing
            .as_ref()
            .and_then(|s| s.anti_rollback_floor.as_ref())
            && floor.version().is_err()
        {
            diags.push(
                err(
                    "flash.signing.anti-rollback-floor",
                    format!("`{floor}` is not a version"),
                )
                .with_help("write MAJOR.MINOR.PATCH, e.g. `2.1.0`"),
            );
        }
    }
    for (name, signal) in &p.signals {
        if let Some(states) = &signal.states
            && states.active == states.inactive
        {
            diags.push(err(
                &join(&join("signals", name), "states"),
                "the two states need different names".into(),
            ));
        }
    }
}

/// A regex error on one line (the `regex` crate draws a multi-line picture).
pub fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(&text)
        .trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

/// Checks references between files.
pub fn catalog(cat: &Catalog, diags: &mut Diagnostics) {
    for model in cat.instruments.values() {
        instrument_model(model, diags);
    }
    for rig in cat.rigs.values() {
        self::rig(rig, cat, diags);
    }
    for fixture in cat.fixtures.values() {
        self::fixture(fixture, cat, diags);
    }
    for route in cat.routes.values() {
        crate::check_route::route(route, cat, diags);
    }
    for scenario in cat.scenarios.values() {
        crate::check_roles::roles(scenario, diags);
        let single = scenario
            .value
            .applies_to
            .as_ref()
            .map(|a| ("applies-to".to_owned(), a.clone()));
        let roles = scenario
            .value
            .roles
            .iter()
            .map(|(name, role)| (join("roles", name), role.applies_to()));
        for (base, applies_to) in single.into_iter().chain(roles) {
            crate::check_scenario::applies(scenario, &base, &applies_to, cat, diags);
        }
    }
}

fn instrument_model(m: &Entry<std::sync::Arc<InstrumentModel>>, diags: &mut Diagnostics) {
    for (name, ch) in &m.value.channels {
        let path = join("channels", name);
        if matches!(ch.table, Table::Coil | Table::Discrete) && !ch.is_bool() {
            diags.push(
                m.ctx
                    .error(
                        join(&path, "type"),
                        "coils and discrete inputs hold single bits",
                    )
                    .with_help("write `type: bool`"),
            );
        }
        if matches!(ch.table, Table::Input | Table::Discrete) && ch.writable {
            diags.push(m.ctx.error(
                join(&path, "writable"),
                "input registers and discrete inputs are read-only in Modbus",
            ));
        }
        if ch.scale == 0.0 {
            diags.push(m.ctx.error(
                join(&path, "scale"),
                "a scale of zero makes every reading zero",
            ));
        }
    }
}

fn rig(entry: &Entry<Rig>, cat: &Catalog, diags: &mut Diagnostics) {
    let rig = &entry.value;
    let ctx = &entry.ctx;
    for (name, conn) in &rig.instruments {
        let path = join("instruments", name);
        if !cat.instruments.contains_key(&conn.model)
            && !cat.broken.instruments.contains(&conn.model)
        {
            diags.push(
                ctx.error(
                    join(&path, "model"),
                    format!("no instrument model `{}`", conn.model),
                )
                .with_optional_help(suggest::help(
                    &conn.model,
                    cat.instruments.keys().map(String::as_str),
                )),
            );
        }
        if matches!(conn.modbus, ModbusLink::Virtual(_))
            && rig.virtual_bench.is_none()
            && rig.qemu.is_none()
        {
            diags.push(needs_bench(ctx, &join(&path, "modbus")));
        }
    }
    for (slot_name, slot) in &rig.slots {
        let base = join("slots", slot_name);
        self::slot(slot, &base, entry, cat, diags);
    }
}

fn needs_bench(ctx: &FileContext, path: &str) -> crate::diagnostic::Diagnostic {
    ctx.error(
        path,
        "a `virtual` channel on a rig without the virtual bench or QEMU",
    )
    .with_help("add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware")
}

fn slot(slot: &Slot, base: &str, entry: &Entry<Rig>, cat: &Catalog, diags: &mut Diagnostics) {
    let rig = &entry.value;
    let ctx = &entry.ctx;
    let bench = rig.virtual_bench.is_some() || rig.qemu.is_some();
    let mut virtual_paths = Vec::new();
    if matches!(slot.probe, Some(Probe::Virtual)) {
        virtual_paths.push(join(base, "probe"));
    }
    for (n, p) in &slot.serial {
        match p {
            SerialPort::Virtual => virtual_paths.push(join(base, &format!("serial.{n}"))),
            SerialPort::Usb(id) if !is_usb_id(id) => diags.push(
                ctx.error(
                    join(base, &format!("serial.{n}.usb")),
                    format!("`{id}` is not a USB identity"),
                )
                .with_help("write VID:PID:SERIAL with hex VID and PID, e.g. `0403:6001:FT5XYZ12`"),
            ),
            _ => {}
        }
    }
    for (n, l) in &slot.gpio {
        let path = join(base, &format!("gpio.{n}"));
        match l {
            GpioLine::Virtual => virtual_paths.push(path),
            GpioLine::Modbus(m) => instrument_channel(
                ctx,
                &join(&path, "modbus"),
                &m.instrument,
                &m.channel,
                rig,
                cat,
                true,
                diags,
            ),
            GpioLine::Gpiochip(_) => {}
        }
    }
    for (n, b) in &slot.i2c {
        if matches!(b, I2cBus::Virtual) {
            virtual_paths.push(join(base, &format!("i2c.{n}")));
        }
    }
    for (n, p) in &slot.net {
        if matches!(p, ImpairmentPoint::Virtual) {
            virtual_paths.push(join(base, &format!("net.{n}")));
        }
    }
    if !bench {
        for p in virtual_paths {
            diags.push(needs_bench(ctx, &p));
        }
    }
    for (alias, instrument) in &slot.instruments {
        if !rig.instruments.contains_key(instrument) {
            diags.push(
                ctx.error(
                    join(base, &format!("instruments.{alias}")),
                    format!("the rig has no instrument `{instrument}`"),
                )
                .with_optional_help(suggest::help(
                    instrument,
                    rig.instruments.keys().map(String::as_str),
                )),
            );
        }
    }
    if let Some(power) = &slot.power
        && !matches!(power, PowerSwitch::UsbHub(_))
    {
        let path = join(base, "power");
        let (alias, channels): (&str, Vec<(&str, &str)>) = match power {
            PowerSwitch::Supply(s) => {
                let mut c = vec![("enable", s.enable.as_str())];
                c.extend(s.set_voltage.as_deref().map(|v| ("set-voltage", v)));
                c.extend(s.set_current.as_deref().map(|v| ("set-current", v)));
                (&s.instrument, c)
            }
            PowerSwitch::Relay(r) => (&r.instrument, vec![("channel", r.channel.as_str())]),
            PowerSwitch::UsbHub(_) => return,
        };
        let sub = join(&path, power.key());
        match slot.instruments.get(alias) {
            None => diags.push(
                ctx.error(
                    join(&sub, "instrument"),
                    format!("the slot has no instrument named `{alias}`"),
                )
                .with_optional_help(suggest::help(
                    alias,
                    slot.instruments.keys().map(String::as_str),
                )),
            ),
            Some(instrument) => {
                for (field, channel) in channels {
                    let want_bool = field == "enable" || field == "channel";
                    instrument_channel(
                        ctx,
                        &join(&sub, field),
                        instrument,
                        channel,
                        rig,
                        cat,
                        want_bool,
                        diags,
                    );
                }
            }
        }
    }
}

/// Checks that `instrument.channel` exists on the rig, is writable, and holds a bit when `want_bool`.
#[allow(clippy::too_many_arguments)]
fn instrument_channel(
    ctx: &FileContext,
    path: &str,
    instrument: &str,
    channel: &str,
    rig: &Rig,
    cat: &Catalog,
    want_bool: bool,
    diags: &mut Diagnostics,
) {
    let Some(conn) = rig.instruments.get(instrument) else {
        diags.push(
            ctx.error(path, format!("the rig has no instrument `{instrument}`"))
                .with_optional_help(suggest::help(
                    instrument,
                    rig.instruments.keys().map(String::as_str),
                )),
        );
        return;
    };
    let Some(model) = cat.instruments.get(&conn.model) else {
        return; // reported at the instrument
    };
    match model.value.channels.get(channel) {
        None => diags.push(
            ctx.error(
                path,
                format!(
                    "instrument model `{}` has no channel `{channel}`",
                    conn.model
                ),
            )
            .with_optional_help(suggest::help(
                channel,
                model.value.channels.keys().map(String::as_str),
            ))
            .with_related("the model is", model.ctx.origin("channels")),
        ),
        Some(ch) => {
            if want_bool && !ch.is_bool() {
                diags.push(ctx.error(
                    path,
                    format!(
                        "channel `{channel}` of `{}` is not a switch (boolean)",
                        conn.model
                    ),
                ));
            }
            if !ch.writable && want_bool && !matches!(ch.table, Table::Discrete) {
                diags.push(ctx.error(
                    path,
                    format!("channel `{channel}` of `{}` is not writable", conn.model),
                ));
            }
        }
    }
}

fn is_usb_id(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(3, ':').collect();
    parts.len() >= 2
        && parts[..2]
            .iter()
            .all(|p| p.len() == 4 && p.chars().all(|c| c.is_ascii_hexdigit()))
        && parts.get(2).is_none_or(|s| !s.is_empty())
}

fn fixture(entry: &Entry<Fixture>, cat: &Catalog, diags: &mut Diagnostics) {
    let f = &entry.value;
    let ctx = &entry.ctx;
    if !cat.broken.profiles.is_empty() {
        return; // a profile did not load; what it would have defined is unknown
    }
    let family: Vec<&ProfileEntry> = cat
        .profiles
        .values()
        .filter(|p| p.family() == f.fits.family)
        .collect();
    if family.is_empty() && !cat.profiles.is_empty() {
        let families: BTreeSet<&str> = cat.profiles.values().map(ProfileEntry::family).collect();
        diags.push(
            ctx.error(
                "fits.family",
                format!("no device profile of family `{}`", f.fits.family),
            )
            .with_optional_help(suggest::help(&f.fits.family, families.iter().copied())),
        );
        return;
    }
    let fitted: Vec<&ProfileEntry> = family
        .iter()
        .copied()
        .filter(|p| f.fits.generations.iter().any(|g| g == p.generation()))
        .collect();
    for (i, g) in f.fits.generations.iter().enumerate() {
        if !family.iter().any(|p| p.generation() == g) {
            diags.push(
                ctx.error(
                    format!("fits.generations[{i}]"),
                    format!("family `{}` has no generation `{g}`", f.fits.family),
                )
                .with_optional_help(suggest::help(g, family.iter().map(|p| p.generation()))),
            );
        }
    }
    // Every wired signal must exist in some generation it fits (a fixture may carry pins a later
    // generation added), and every channel must exist on every slot of its kind.
    for signal in f.signals.keys() {
        if !fitted.is_empty() && !fitted.iter().any(|p| p.value.signals.contains_key(signal)) {
            let names: BTreeSet<&str> = fitted
                .iter()
                .flat_map(|p| p.value.signals.keys().map(String::as_str))
                .collect();
            diags.push(
                ctx.key_error(
                    join("signals", signal),
                    format!("no generation this fixture fits has a signal `{signal}`"),
                )
                .with_optional_help(suggest::help(signal, names.iter().copied())),
            );
        }
    }
    for rig in cat.rigs.values() {
        for (slot_name, slot) in rig
            .value
            .slots
            .iter()
            .filter(|(_, s)| s.kind == f.slot_kind)
        {
            let slot_path = format!("slots.{slot_name}");
            let mut missing =
                |path: String, what: &str, channel: &str, have: &BTreeMap<String, ()>| {
                    diags.push(
                        ctx.error(
                            path,
                            format!(
                                "slot `{slot_name}` of rig `{}` has no {what} channel `{channel}`",
                                rig.value.rig
                            ),
                        )
                        .with_optional_help(suggest::help(channel, have.keys().map(String::as_str)))
                        .with_related("the slot is", rig.ctx.origin(&slot_path)),
                    );
                };
            let names = |m: &dyn Fn() -> Vec<String>| {
                m().into_iter().map(|k| (k, ())).collect::<BTreeMap<_, _>>()
            };
            let gpio = names(&|| slot.gpio.keys().cloned().collect());
            for (signal, channel) in &f.signals {
                if !gpio.contains_key(channel) {
                    missing(join("signals", signal), "GPIO", channel, &gpio);
                }
            }
            if let Some(c) = &f.console {
                let serial = names(&|| slot.serial.keys().cloned().collect());
                if !serial.contains_key(c) {
                    missing("console".into(), "serial", c, &serial);
                }
            }
            if let Some(c) = &f.i2c {
                let buses = names(&|| slot.i2c.keys().cloned().collect());
                if !buses.contains_key(c) {
                    missing("i2c".into(), "I²C", c, &buses);
                }
            }
            let net = names(&|| slot.net.keys().cloned().collect());
            for (link, point) in &f.network {
                if !net.contains_key(point) {
                    missing(join("network", link), "network", point, &net);
                }
            }
        }
    }
}
