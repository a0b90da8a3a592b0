//! Asking the station's operator.

use crate::devices::Answer;
use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

impl Run {
    pub(super) async fn operator_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
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
            _ => not_of_family(step, "operator"),
        }
    }
}
