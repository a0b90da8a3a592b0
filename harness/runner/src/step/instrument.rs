//! Reading and writing an instrument's channel.

use rigor_hal::Reading;
use rigor_model::value::Scalar;

use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

impl Run {
    pub(super) async fn instrument_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
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
            _ => not_of_family(step, "instrument"),
        }
    }
}
