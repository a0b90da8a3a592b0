//! Measurements: a value from an instrument, a capture or an expression, judged against its limits.

use rigor_hal::Reading;

use crate::measurement::Value;
use rigor_plan::plan::MeasureSource;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

impl Run {
    pub(super) async fn measure_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
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
                        match expr.evaluate(&numbers) {
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
            _ => not_of_family(step, "measure"),
        }
    }
}
