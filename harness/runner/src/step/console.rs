//! The console steps: baud, send, expect, capture.

use rigor_console::Until;

use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

impl Run {
    pub(super) async fn console_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
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
                let re = match pattern.regex() {
                    Ok(re) => re,
                    Err(e) => return Done::Error(FailureClass::Scenario, e.to_string()),
                };
                match console.expect(re, *within).await {
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
                let re = until.as_ref().map(|p| p.regex()).transpose();
                let re = match re {
                    Ok(re) => re,
                    Err(e) => return Done::Error(FailureClass::Scenario, e.to_string()),
                };
                let until = match re {
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
            _ => not_of_family(step, "console"),
        }
    }
}
