//! GPIO lines of the emulated board as rigor's [`DigitalLine`]s, through qtest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigor_hal::{DigitalLine, Edge, HalError, Transition, async_trait};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::error::{Channel, QemuError};
use crate::qtest::Qtest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// An input of the device, driven by rigor.
    Input,
    /// An output of the device, observed by rigor.
    Output,
}

/// One GPIO line of a QEMU device (a GPIO port's pin), seen from the rig.
///
/// An input line is driven with qtest's `set_irq_in` and reads back the level rigor last drove
/// (low until then, as QEMU's GPIO ports start). An output line is observed through qtest's
/// interception of the device's outputs: its level is the one QEMU last reported.
///
/// QEMU 7.2's `system_reset` forgets the levels of GPIO inputs (the PL061 model clears its data
/// register, external inputs included), where a real switch would hold its level across a reset:
/// set the inputs again after a reset.
pub struct QemuGpio {
    qtest: Arc<Qtest>,
    path: String,
    line: u32,
    role: Role,
    driven: Mutex<bool>,
}

impl QemuGpio {
    /// Input `line` of the device at QOM `path`, driven by rigor.
    pub fn input(qtest: Arc<Qtest>, path: impl Into<String>, line: u32) -> Self {
        Self::new(qtest, path.into(), line, Role::Input)
    }

    /// Output `line` of the device at QOM `path`, observed by rigor. Intercepts the device's
    /// outputs: one device per machine, before the guest runs (see [`Qtest`]).
    pub async fn output(
        qtest: Arc<Qtest>,
        path: impl Into<String>,
        line: u32,
    ) -> Result<Self, QemuError> {
        let path = path.into();
        qtest.irq_intercept_out(&path).await?;
        Ok(Self::new(qtest, path, line, Role::Output))
    }

    fn new(qtest: Arc<Qtest>, path: String, line: u32, role: Role) -> Self {
        QemuGpio {
            qtest,
            path,
            line,
            role,
            driven: Mutex::new(false),
        }
    }

    /// The line, for messages: `input 0 of /machine/unattached/device[14]`.
    pub fn describe(&self) -> String {
        let role = match self.role {
            Role::Input => "input",
            Role::Output => "output",
        };
        format!("{role} {} of {}", self.line, self.path)
    }

    fn unsupported(&self, what: &str) -> HalError {
        HalError::Unsupported {
            what: what.to_owned(),
            backend: format!("qemu gpio {}", self.describe()),
        }
    }

    /// Changes of this line until `deadline`, from its level now; stops early when `stop` says.
    async fn follow(
        &self,
        within: Duration,
        mut stop: impl FnMut(bool, Transition) -> bool,
    ) -> Result<(bool, Vec<Transition>), HalError> {
        let (start_level, mut changes) = self.qtest.watch_irq(self.line).await?;
        let start = Instant::now();
        let deadline = start + within;
        let mut level = start_level;
        let mut seen = Vec::new();
        loop {
            let change = match tokio::time::timeout_at(deadline, changes.recv()).await {
                Err(_) => return Ok((start_level, seen)),
                Ok(Ok(change)) => change,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err(self.qtest.ended().await.into());
                }
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    return Err(QemuError::Protocol {
                        channel: Channel::Qtest,
                        message: format!("missed {missed} level changes of {}", self.describe()),
                        source: None,
                    }
                    .into());
                }
            };
            if change.line != self.line {
                continue;
            }
            let transition = Transition {
                at: change.at.saturating_duration_since(start),
                high: change.high,
            };
            let was = std::mem::replace(&mut level, change.high);
            seen.push(transition);
            if stop(was, transition) {
                return Ok((start_level, seen));
            }
        }
    }
}

#[async_trait]
impl DigitalLine for QemuGpio {
    async fn set(&self, high: bool) -> Result<(), HalError> {
        if self.role == Role::Output {
            return Err(self.unsupported("driving an output of the device"));
        }
        self.qtest
            .set_irq_in(&self.path, None, self.line, high)
            .await?;
        *self
            .driven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = high;
        Ok(())
    }

    async fn get(&self) -> Result<bool, HalError> {
        Ok(match self.role {
            Role::Input => *self
                .driven
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Role::Output => self.qtest.irq_level(self.line),
        })
    }

    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
        if self.role == Role::Input {
            return Err(self.unsupported("watching an input rigor drives"));
        }
        self.follow(window, |_, _| false).await
    }

    /// Waits on QEMU's reports of the line rather than sampling it, so no pulse is missed.
    async fn wait_edge(
        &self,
        edge: Edge,
        within: Duration,
    ) -> Result<Option<Transition>, HalError> {
        if self.role == Role::Input {
            return Err(self.unsupported("waiting for an edge of an input rigor drives"));
        }
        let (start_level, seen) = self.follow(within, |was, t| edge.is(was, t.high)).await?;
        let mut was = start_level;
        Ok(seen.into_iter().find(|t| {
            let hit = edge.is(was, t.high);
            was = t.high;
            hit
        }))
    }
}
