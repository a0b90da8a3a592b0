//! Steps about the run itself: wait, barriers, shell commands (where the rig allows them), retry groups.

use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

impl Run {
    pub(super) async fn control_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::Wait { duration } => {
                tokio::time::sleep(*duration).await;
                Done::Pass
            }
            BoundAction::Barrier { name } => match &self.member {
                Some(member) => match member.arrive(name).await {
                    Ok(()) => Done::Pass,
                    // Another unit's end is not this unit's fault, nor the rig's (so no retry).
                    Err(e) => Done::Error(FailureClass::Scenario, e.to_string()),
                },
                None => Done::Error(
                    FailureClass::Scenario,
                    format!("barrier `{name}` outside a multi-device session"),
                ),
            },
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
            _ => not_of_family(step, "control"),
        }
    }
}
