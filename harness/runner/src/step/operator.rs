//! Asking the station's operator.

use crate::devices::{Answer, Question};
use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

/// How many times a prompt asks before a wrong answer fails the step.
const ASKS: usize = 3;

impl Run {
    pub(super) async fn operator_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::Prompt {
                message,
                input,
                choices,
                pattern,
                image,
            } => {
                let operator = need!(
                    self.devices.operator.clone(),
                    "an operator (run with --operator, or give answers)"
                );
                // Checked by `rigor check`; an invalid pattern here matches nothing.
                let whole = pattern.as_ref().map(|p| p.regex());
                let mut asking = message.clone();
                for _ in 0..ASKS {
                    let answer = operator
                        .ask(Question {
                            message: &asking,
                            choices,
                            wants_text: input.is_some(),
                            image: image.as_deref(),
                        })
                        .await;
                    match answer {
                        None => {
                            return Done::Error(
                                FailureClass::Scenario,
                                format!("no operator answered `{message}`"),
                            );
                        }
                        Some(Answer::Choice(0)) => return Done::Pass,
                        Some(Answer::Choice(i)) => {
                            return Done::Fail(format!(
                                "the operator chose `{}`",
                                choices.get(i).map_or("?", String::as_str)
                            ));
                        }
                        Some(Answer::Text(t)) => {
                            if let (Some(whole), Some(p)) = (&whole, pattern)
                                && !whole.as_ref().is_ok_and(|w| w.is_match(&t))
                            {
                                asking = format!(
                                    "{message}\n`{t}` is not a valid answer (expected {p}): try again"
                                );
                                continue;
                            }
                            if let Some(name) = input {
                                self.captures.insert(name.clone(), Value::Text(t));
                            }
                            return Done::Pass;
                        }
                    }
                }
                Done::Fail(format!(
                    "the operator's answers to `{message}` did not match {}",
                    pattern.as_ref().map(|p| p.as_str()).unwrap_or_default()
                ))
            }
            _ => not_of_family(step, "operator"),
        }
    }
}
