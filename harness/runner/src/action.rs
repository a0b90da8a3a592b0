//! Carrying out each kind of step through the slot's backends.

use std::time::Duration;

use rigor_console::{ExpectError, Until};
use rigor_hal::{FirmwareImage, HalError, ImageFormat, Impairment, Reading};
use rigor_model::action::{Edge, SignalQuantity};
use rigor_model::value::Scalar;
use rigor_plan::plan::{BoundAction, BoundStep, LineBinding, MeasureSource};
use tokio::time::Instant;

use crate::devices::Answer;
use crate::engine::{Done, Run};
use crate::event::FailureClass;
use crate::measurement::{self, Value};

/// How often a line is sampled while waiting for a level or an edge.
const LINE_POLL: Duration = Duration::from_millis(5);

fn hal(e: HalError) -> Done {
    match e.blame() {
        rigor_hal::Blame::Rig => Done::Error(FailureClass::Infrastructure, e.to_string()),
        rigor_hal::Blame::Device => Done::Fail(e.to_string()),
    }
}

fn missing(what: &str) -> Done {
    Done::Error(
        FailureClass::Infrastructure,
        format!("no backend was opened for {what}"),
    )
}

macro_rules! try_hal {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return hal(e),
        }
    };
}

/// The value of a `Result<_, Done>`, or the step's end.
macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(done) => return done,
        }
    };
}

macro_rules! need {
    ($opt:expr, $what:expr) => {
        match $opt {
            Some(v) => v,
            None => return missing(&$what),
        }
    };
}

fn level_name(line: &LineBinding, high: bool) -> &'static str {
    if high != line.active_low {
        "active"
    } else {
        "inactive"
    }
}

/// The opened backend of a channel, or the step's end with an infrastructure error.
fn opened<T: ?Sized>(
    map: &std::collections::HashMap<String, std::sync::Arc<T>>,
    key: &str,
    what: &str,
) -> Result<std::sync::Arc<T>, Done> {
    map.get(key)
        .cloned()
        .ok_or_else(|| missing(&format!("{what} {key}")))
}

impl Run {
    fn line_of(
        &self,
        line: &LineBinding,
    ) -> Result<std::sync::Arc<dyn rigor_hal::DigitalLine>, Done> {
        opened(&self.devices.lines, &line.channel, "line")
    }

    fn bus_of(&self, channel: &str) -> Result<std::sync::Arc<dyn rigor_hal::I2cBus>, Done> {
        opened(&self.devices.i2c, channel, "I²C bus")
    }

    fn instrument_of(&self, name: &str) -> Result<std::sync::Arc<dyn rigor_hal::Instrument>, Done> {
        opened(&self.devices.instruments, name, "instrument")
    }

    fn link_of(&self, channel: &str) -> Result<std::sync::Arc<dyn rigor_hal::NetImpairment>, Done> {
        opened(&self.devices.links, channel, "link")
    }

    pub(crate) async fn action(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::Flash {
                image,
                verify,
                formats,
                base_address,
                signing,
                ..
            } => {
                let bytes = match tokio::fs::read(image).await {
                    Ok(b) => b,
                    Err(e) => {
                        return Done::Error(
                            FailureClass::Scenario,
                            format!("cannot read image {image}: {e}"),
                        );
                    }
                };
                // The gate before anything is written: generation, signer, integrity, floor.
                if let Some(signing) = signing {
                    let checked = crate::firmware::trust_policy(
                        &self.plan.family,
                        &self.plan.generation,
                        signing,
                    )
                    .and_then(|policy| {
                        let manifest_at = rigor_image::manifest_path(std::path::Path::new(image));
                        let manifest =
                            rigor_image::Manifest::read(&manifest_at).map_err(|e| e.to_string())?;
                        rigor_image::verify(
                            &policy,
                            image,
                            &bytes,
                            manifest.as_ref(),
                            &manifest_at.display().to_string(),
                        )
                        .map_err(|e| e.to_string())
                    });
                    if let Err(why) = checked {
                        return Done::Error(FailureClass::Scenario, format!("refused: {why}"));
                    }
                }
                let format = match std::path::Path::new(image)
                    .extension()
                    .and_then(|e| e.to_str())
                {
                    Some("hex" | "ihex") => ImageFormat::Hex,
                    Some("bin") => ImageFormat::Bin,
                    Some("elf") | Some("axf") | Some("out") => ImageFormat::Elf,
                    _ => match formats.first() {
                        Some(rigor_model::profile::ImageFormat::Hex) => ImageFormat::Hex,
                        Some(rigor_model::profile::ImageFormat::Bin) => ImageFormat::Bin,
                        _ => ImageFormat::Elf,
                    },
                };
                let image = FirmwareImage {
                    name: image.clone(),
                    bytes: bytes.into(),
                    format,
                    base_address: *base_address,
                };
                let flasher = need!(self.devices.flasher.as_mut(), "the probe");
                match flasher.flash(&image, *verify).await {
                    Ok(_) => Done::Pass,
                    // An image the device or its rules refuse is the build's problem, not the unit's.
                    Err(HalError::Refused { what, reason }) => {
                        Done::Error(FailureClass::Scenario, format!("{what} refused: {reason}"))
                    }
                    Err(e) => hal(e),
                }
            }
            BoundAction::Power {
                state,
                volts,
                current_limit_amps,
                off_for,
                switch,
            } => {
                use rigor_model::action::PowerState;
                let (v, a) = (Some(*volts), Some(*current_limit_amps));
                match state {
                    PowerState::On => try_hal!(
                        crate::engine::switch_power(&self.devices.instruments, switch, true, v, a)
                            .await
                    ),
                    PowerState::Off => try_hal!(
                        crate::engine::switch_power(
                            &self.devices.instruments,
                            switch,
                            false,
                            None,
                            None
                        )
                        .await
                    ),
                    PowerState::Cycle => {
                        try_hal!(
                            crate::engine::switch_power(
                                &self.devices.instruments,
                                switch,
                                false,
                                None,
                                None
                            )
                            .await
                        );
                        tokio::time::sleep(*off_for).await;
                        try_hal!(
                            crate::engine::switch_power(
                                &self.devices.instruments,
                                switch,
                                true,
                                v,
                                a
                            )
                            .await
                        );
                    }
                }
                Done::Pass
            }
            BoundAction::ConsoleBaud { baud } => {
                let console = need!(self.console.as_ref(), "the console");
                try_hal!(console.set_baud(*baud).await);
                Done::Pass
            }
            BoundAction::ConsoleSend {
                text,
                line_ending,
                char_delay,
            } => {
                let console = need!(self.console.as_ref(), "the console");
                let mut bytes = text.as_bytes().to_vec();
                bytes.extend_from_slice(line_ending.bytes());
                try_hal!(console.send_bytes(&bytes, *char_delay).await);
                Done::Pass
            }
            BoundAction::ConsoleExpect { pattern, within } => {
                let console = need!(self.console.as_mut(), "the console");
                let re = match regex::Regex::new(pattern) {
                    Ok(re) => re,
                    Err(e) => return Done::Error(FailureClass::Scenario, e.to_string()),
                };
                match console.expect(&re, *within).await {
                    Ok(m) => {
                        for (k, v) in m.captures {
                            self.captures.insert(k, Value::Text(v));
                        }
                        Done::Pass
                    }
                    Err(e) => expect_failed(&e),
                }
            }
            BoundAction::ConsoleCapture {
                name,
                until,
                duration,
            } => {
                let console = need!(self.console.as_mut(), "the console");
                let re = until.as_deref().map(regex::Regex::new).transpose();
                let re = match re {
                    Ok(re) => re,
                    Err(e) => return Done::Error(FailureClass::Scenario, e.to_string()),
                };
                let until = match &re {
                    Some(pattern) => Until::Match {
                        pattern,
                        within: duration.unwrap_or(step.timeout),
                    },
                    None => Until::Elapsed(duration.unwrap_or(step.timeout)),
                };
                match console.capture(until).await {
                    Ok(text) => {
                        self.captures.insert(name.clone(), Value::Text(text));
                        Done::Pass
                    }
                    Err(e) => expect_failed(&e),
                }
            }
            BoundAction::GpioSet { line, high } => {
                let l = or_return!(self.line_of(line));
                try_hal!(l.set(*high).await);
                Done::Pass
            }
            BoundAction::GpioPulse {
                line,
                high,
                duration,
            } => {
                let l = or_return!(self.line_of(line));
                try_hal!(l.set(*high).await);
                tokio::time::sleep(*duration).await;
                try_hal!(l.set(!*high).await);
                Done::Pass
            }
            BoundAction::GpioRead { line, name } => {
                let l = or_return!(self.line_of(line));
                let high = try_hal!(l.get().await);
                let active = high != line.active_low;
                self.captures
                    .insert(name.clone(), Value::Number(if active { 1.0 } else { 0.0 }));
                Done::Pass
            }
            BoundAction::GpioExpect { line, high, within } => {
                let l = or_return!(self.line_of(line));
                let deadline = Instant::now() + *within;
                loop {
                    let now = try_hal!(l.get().await);
                    if now == *high {
                        return Done::Pass;
                    }
                    if Instant::now() >= deadline {
                        return Done::Fail(format!(
                            "`{}` stayed {} for {within:?}; expected {}",
                            line.signal,
                            level_name(line, now),
                            level_name(line, *high)
                        ));
                    }
                    tokio::time::sleep(LINE_POLL).await;
                }
            }
            BoundAction::GpioWaitEdge { line, edge, within } => {
                let l = or_return!(self.line_of(line));
                let deadline = Instant::now() + *within;
                let mut last = try_hal!(l.get().await);
                loop {
                    tokio::time::sleep(LINE_POLL).await;
                    let now = try_hal!(l.get().await);
                    let seen = match edge {
                        Edge::Rising => !last && now,
                        Edge::Falling => last && !now,
                        Edge::Any => last != now,
                    };
                    if seen {
                        return Done::Pass;
                    }
                    if Instant::now() >= deadline {
                        return Done::Fail(
                            format!("no {edge:?} edge on `{}` within {within:?}", line.signal)
                                .to_lowercase(),
                        );
                    }
                    last = now;
                }
            }
            BoundAction::GpioMeasure {
                name,
                line,
                quantity,
                window,
                limits,
            } => {
                let l = or_return!(self.line_of(line));
                let (start, transitions) = try_hal!(l.watch(*window).await);
                let value = signal_quantity(
                    *quantity,
                    start != line.active_low,
                    &transitions,
                    *window,
                    line.active_low,
                );
                self.judge(name, Value::Number(value), Some(quantity.unit()), limits)
            }
            BoundAction::I2cRead {
                target,
                register,
                bytes,
                name,
            } => {
                let bus = or_return!(self.bus_of(&target.channel));
                let data = try_hal!(
                    bus.write_read(target.address, &[*register], usize::from(*bytes))
                        .await
                );
                let n = data.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                self.captures.insert(name.clone(), Value::Number(n as f64));
                Done::Pass
            }
            BoundAction::I2cWrite {
                target,
                register,
                data,
            } => {
                let bus = or_return!(self.bus_of(&target.channel));
                let mut bytes = vec![*register];
                bytes.extend_from_slice(data);
                try_hal!(bus.write(target.address, &bytes).await);
                Done::Pass
            }
            BoundAction::I2cExpect {
                target,
                register,
                equals,
                mask,
            } => {
                let bus = or_return!(self.bus_of(&target.channel));
                let got = try_hal!(
                    bus.write_read(target.address, &[*register], equals.len())
                        .await
                );
                let masked = |v: &[u8]| -> Vec<u8> {
                    v.iter()
                        .enumerate()
                        .map(|(i, b)| {
                            b & mask
                                .as_ref()
                                .and_then(|m| m.get(i))
                                .copied()
                                .unwrap_or(0xFF)
                        })
                        .collect()
                };
                if masked(&got) == masked(equals) {
                    Done::Pass
                } else {
                    Done::Fail(format!(
                        "{} register {register:#04x} reads {got:02x?}, expected {equals:02x?}",
                        target.device
                    ))
                }
            }
            BoundAction::InstrumentRead {
                instrument,
                channel,
                name,
            } => {
                let i = or_return!(self.instrument_of(&instrument.name));
                let value = match try_hal!(i.read(channel).await) {
                    Reading::Number(n) => n,
                    Reading::Bool(b) => f64::from(u8::from(b)),
                };
                self.captures.insert(name.clone(), Value::Number(value));
                Done::Pass
            }
            BoundAction::InstrumentWrite {
                instrument,
                channel,
                value,
            } => {
                let i = or_return!(self.instrument_of(&instrument.name));
                let reading = match value {
                    Scalar::Bool(b) => Reading::Bool(*b),
                    Scalar::Number(n) => Reading::Number(*n),
                    Scalar::Text(t) => {
                        return Done::Error(
                            FailureClass::Scenario,
                            format!("`{t}` is not a value for {channel}"),
                        );
                    }
                };
                try_hal!(i.write(channel, reading).await);
                Done::Pass
            }
            BoundAction::Measure {
                name,
                source,
                unit,
                settle,
                limits,
                ..
            } => {
                if let Some(s) = settle {
                    tokio::time::sleep(*s).await;
                }
                let value = match source {
                    MeasureSource::Instrument {
                        instrument,
                        channel,
                        samples,
                    } => {
                        let i = or_return!(self.instrument_of(&instrument.name));
                        let mut sum = 0.0;
                        for _ in 0..*samples {
                            sum += match try_hal!(i.read(channel).await) {
                                Reading::Number(n) => n,
                                Reading::Bool(b) => f64::from(u8::from(b)),
                            };
                        }
                        Value::Number(sum / f64::from((*samples).max(1)))
                    }
                    MeasureSource::Capture(c) => match self.captures.get(c) {
                        Some(v) => v.clone(),
                        None => {
                            return Done::Error(
                                FailureClass::Scenario,
                                format!("nothing was captured as `{c}`"),
                            );
                        }
                    },
                    MeasureSource::Expr(expr) => {
                        let numbers = self.numeric_values();
                        match measurement::evaluate(expr, &numbers) {
                            Ok(n) => Value::Number(n),
                            Err(e) => {
                                return Done::Error(
                                    FailureClass::Scenario,
                                    format!("`{expr}`: {e}"),
                                );
                            }
                        }
                    }
                };
                self.judge(name, value, *unit, limits)
            }
            BoundAction::NetImpair {
                link,
                latency,
                jitter,
                loss_percent,
                bandwidth_kbps,
                partition,
                duration,
            } => {
                let point = or_return!(self.link_of(&link.channel));
                let imp = Impairment {
                    latency: *latency,
                    jitter: *jitter,
                    loss_percent: *loss_percent,
                    bandwidth_kbps: *bandwidth_kbps,
                    partition: *partition,
                };
                try_hal!(
                    self.impairments
                        .apply(&link.channel, point, &imp, *duration)
                        .await
                );
                Done::Pass
            }
            BoundAction::NetClear { link } => {
                let point = or_return!(self.link_of(&link.channel));
                try_hal!(self.impairments.clear(&link.channel, &point).await);
                Done::Pass
            }
            BoundAction::Wait { duration } => {
                tokio::time::sleep(*duration).await;
                Done::Pass
            }
            BoundAction::Prompt {
                message,
                input,
                choices,
            } => {
                let operator = need!(
                    self.devices.operator.clone(),
                    "an operator (run with --operator, or give answers)"
                );
                match operator.ask(message, choices, input.is_some()).await {
                    None => Done::Error(
                        FailureClass::Scenario,
                        format!("no operator answered `{message}`"),
                    ),
                    Some(Answer::Choice(0)) => Done::Pass,
                    Some(Answer::Choice(i)) => Done::Fail(format!(
                        "the operator chose `{}`",
                        choices.get(i).map_or("?", String::as_str)
                    )),
                    Some(Answer::Text(t)) => {
                        if let Some(name) = input {
                            self.captures.insert(name.clone(), Value::Text(t));
                        }
                        Done::Pass
                    }
                }
            }
            BoundAction::Shell {
                run,
                expect_exit,
                output,
            } => {
                let out = match tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(run)
                    .output()
                    .await
                {
                    Ok(o) => o,
                    Err(e) => {
                        return Done::Error(
                            FailureClass::Infrastructure,
                            format!("cannot run `{run}`: {e}"),
                        );
                    }
                };
                if let Some(name) = output {
                    self.captures.insert(
                        name.clone(),
                        Value::Text(String::from_utf8_lossy(&out.stdout).into_owned()),
                    );
                }
                match out.status.code() {
                    Some(c) if c == *expect_exit => Done::Pass,
                    c => Done::Fail(format!("`{run}` exited with {c:?}, expected {expect_exit}")),
                }
            }
            BoundAction::Retry { .. } => Done::Error(
                FailureClass::Scenario,
                "a retry group runs through the engine".into(),
            ),
        }
    }

    fn judge(
        &mut self,
        name: &str,
        value: Value,
        unit: Option<rigor_model::unit::Unit>,
        limits: &rigor_plan::plan::BoundLimits,
    ) -> Done {
        match measurement::judge(name, value, unit, limits) {
            Ok(j) => {
                let done = if j.verdict.passed() {
                    Done::Pass
                } else {
                    Done::Fail(j.describe())
                };
                self.measured.push(j);
                done
            }
            Err(e @ measurement::JudgeError::NotANumber { .. }) => Done::Fail(e.to_string()),
            Err(e) => Done::Error(FailureClass::Scenario, e.to_string()),
        }
    }

    /// Captured values and parameters that are numbers, for expressions.
    fn numeric_values(&self) -> std::collections::BTreeMap<String, f64> {
        let mut out: std::collections::BTreeMap<String, f64> = self
            .plan
            .parameters
            .iter()
            .filter_map(|(k, v)| match v {
                Scalar::Number(n) => Some((k.clone(), *n)),
                _ => None,
            })
            .collect();
        for (k, v) in &self.captures {
            let n = match v {
                Value::Number(n) => Some(*n),
                Value::Text(t) => t.trim().parse().ok(),
            };
            if let Some(n) = n {
                out.insert(k.clone(), n);
            }
        }
        out
    }
}

/// Frequency (Hz), pulse width (s) or duty cycle (%) of a line watched for `window`.
///
/// `active_at_start` is whether the signal was active when the watch began; transitions are electrical.
pub fn signal_quantity(
    quantity: SignalQuantity,
    active_at_start: bool,
    transitions: &[rigor_hal::Transition],
    window: Duration,
    active_low: bool,
) -> f64 {
    let active = |high: bool| high != active_low;
    // Periods between successive activations.
    let activations: Vec<f64> = transitions
        .iter()
        .filter(|t| active(t.high))
        .map(|t| t.at.as_secs_f64())
        .collect();
    match quantity {
        SignalQuantity::Frequency => match activations.as_slice() {
            [first, .., last] => (activations.len() - 1) as f64 / (last - first),
            _ => 0.0,
        },
        SignalQuantity::PulseWidth | SignalQuantity::DutyCycle => {
            let mut on_time = 0.0;
            let mut pulses = Vec::new();
            let mut since = active_at_start.then_some(0.0);
            for t in transitions {
                let at = t.at.as_secs_f64();
                match (active(t.high), since) {
                    (true, None) => since = Some(at),
                    (false, Some(s)) => {
                        on_time += at - s;
                        pulses.push(at - s);
                        since = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = since {
                on_time += window.as_secs_f64() - s;
            }
            if quantity == SignalQuantity::DutyCycle {
                100.0 * on_time / window.as_secs_f64().max(f64::MIN_POSITIVE)
            } else if pulses.is_empty() {
                0.0
            } else {
                pulses.iter().sum::<f64>() / pulses.len() as f64
            }
        }
    }
}

/// A console wait that ended without its match: the device's failure if it did not say it, the
/// rig's error if the port was gone.
fn expect_failed(e: &ExpectError) -> Done {
    match e.blame() {
        rigor_hal::Blame::Device => Done::Fail(e.to_string()),
        rigor_hal::Blame::Rig => Done::Error(FailureClass::Infrastructure, e.to_string()),
    }
}
