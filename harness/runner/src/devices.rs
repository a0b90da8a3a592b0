//! What a slot's run talks to: the backends of its channels, opened from the bound plan, and the
//! station operator.

use std::collections::HashMap;
use std::sync::Arc;

use rigor_hal::{ConsolePort, DigitalLine, Flasher, I2cBus, Instrument, NetImpairment};

/// The opened backends of one slot, by the bound plan's names.
#[derive(Default)]
pub struct SlotDevices {
    /// The console port, if the plan uses it.
    pub console: Option<Box<dyn ConsolePort>>,
    /// The flasher, if the plan flashes.
    pub flasher: Option<Box<dyn Flasher>>,
    /// Digital lines by slot channel name.
    pub lines: HashMap<String, Arc<dyn DigitalLine>>,
    /// I²C buses by slot channel name.
    pub i2c: HashMap<String, Arc<dyn I2cBus>>,
    /// Instruments by the rig's instrument name.
    pub instruments: HashMap<String, Arc<dyn Instrument>>,
    /// Impairment points by slot channel name.
    pub links: HashMap<String, Arc<dyn NetImpairment>>,
    /// The slot's update server, if the plan offers updates.
    pub update_server: Option<Arc<rigor_update_server::UpdateServer>>,
    /// What must live as long as the run: the way from the device to its update server.
    pub keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
    /// The station operator.
    pub operator: Option<Arc<dyn Operator>>,
}

/// What an operator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Pressed this choice (the first choice passes).
    Choice(usize),
    /// Typed or scanned this text.
    Text(String),
}

/// What a prompt asks the operator.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// The message (after a refused answer, with why it was refused).
    pub message: &'a str,
    /// Buttons; the first passes.
    pub choices: &'a [String],
    /// Whether text (a scan) is wanted rather than a button.
    pub wants_text: bool,
    /// A picture to show with the message.
    pub image: Option<&'a std::path::Path>,
}

/// The person at a factory station (a terminal, a station UI, or scripted answers in CI).
#[rigor_hal::async_trait]
pub trait Operator: Send + Sync {
    /// Shows the question and waits for an answer: a choice, or text when it wants text.
    async fn ask(&self, question: Question<'_>) -> Option<Answer>;
}

/// Answers prompts from a script, in order (for CI and the demo); no answer left means no operator.
#[derive(Debug, Default)]
pub struct ScriptedOperator {
    answers: std::sync::Mutex<std::collections::VecDeque<Answer>>,
}

impl ScriptedOperator {
    /// An operator that gives these answers, in order.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            answers: std::sync::Mutex::new(answers.into_iter().collect()),
        }
    }
}

#[rigor_hal::async_trait]
impl Operator for ScriptedOperator {
    async fn ask(&self, _: Question<'_>) -> Option<Answer> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }
}
