//! Carrying out each kind of step through the slot's backends: one module per step family,
//! mirroring binding (`rigor_plan::bind`). A new step kind is a bound variant, its arm in the
//! dispatch below and in its family's module, and its name in `engine::kind`.

use std::time::Duration;

use rigor_console::ExpectError;
use rigor_hal::HalError;
use rigor_model::action::SignalQuantity;
use rigor_model::value::Scalar;
use rigor_plan::plan::{BoundAction, BoundStep, LineBinding};

use crate::engine::{Done, Run};
use crate::event::FailureClass;
use crate::measurement::{self, Value};

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

/// A family's function was handed another family's step: a bug in the dispatch.
fn not_of_family(step: &BoundStep, family: &str) -> Done {
    Done::Error(
        FailureClass::Scenario,
        format!("step `{}` is not a {family} step", step.label),
    )
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

mod console;
mod control;
mod flash;
mod gpio;
mod i2c;
mod instrument;
mod measure;
mod net;
mod operator;
mod ota;
mod power;

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
            BoundAction::Flash { .. } => self.flash(step).await,
            BoundAction::Power { .. } => self.power(step).await,
            BoundAction::ConsoleBaud { .. }
            | BoundAction::ConsoleSend { .. }
            | BoundAction::ConsoleExpect { .. }
            | BoundAction::ConsoleCapture { .. } => self.console_step(step).await,
            BoundAction::GpioSet { .. }
            | BoundAction::GpioPulse { .. }
            | BoundAction::GpioRead { .. }
            | BoundAction::GpioExpect { .. }
            | BoundAction::GpioWaitEdge { .. }
            | BoundAction::GpioMeasure { .. } => self.gpio_step(step).await,
            BoundAction::I2cRead { .. }
            | BoundAction::I2cWrite { .. }
            | BoundAction::I2cExpect { .. } => self.i2c_step(step).await,
            BoundAction::InstrumentRead { .. } | BoundAction::InstrumentWrite { .. } => {
                self.instrument_step(step).await
            }
            BoundAction::Measure { .. } => self.measure_step(step).await,
            BoundAction::NetImpair { .. } | BoundAction::NetClear { .. } => {
                self.net_step(step).await
            }
            BoundAction::OtaOffer { .. } | BoundAction::OtaMeasure { .. } => {
                self.ota_step(step).await
            }
            BoundAction::Prompt { .. } => self.operator_step(step).await,
            BoundAction::Wait { .. }
            | BoundAction::Barrier { .. }
            | BoundAction::Shell { .. }
            | BoundAction::Retry { .. } => self.control_step(step).await,
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
