//! The operator at the screen answers a scenario's `prompt` steps: the question shows on the
//! slot's tile, and the answer (a scan, typed text, or a PASS/FAIL button) comes back from the
//! page.

use std::sync::{Arc, Mutex, PoisonError};

use rigor_runner::devices::{Answer, Operator};
use tokio::sync::{oneshot, watch};

use crate::view::{PromptView, Shared};

/// Where the page's answer for a slot goes: the prompt waiting for it, if any.
#[derive(Default, Clone)]
pub struct AnswerSlot(Arc<Mutex<Option<oneshot::Sender<Answer>>>>);

impl AnswerSlot {
    /// Hands `answer` to the waiting prompt; `false` if none waits.
    pub fn answer(&self, answer: Answer) -> bool {
        let waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        waiting.is_some_and(|tx| tx.send(answer).is_ok())
    }

    fn wait(&self) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        rx
    }
}

/// The operator of one slot, at the screen.
pub struct ScreenOperator {
    shared: Shared,
    slot: String,
    answers: AnswerSlot,
    cancel: watch::Receiver<bool>,
}

impl ScreenOperator {
    /// Asks on `slot`'s tile; answers arrive through `answers`; an abort of the slot (`cancel`)
    /// stops waiting.
    pub fn new(
        shared: Shared,
        slot: &str,
        answers: AnswerSlot,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        ScreenOperator {
            shared,
            slot: slot.to_owned(),
            answers,
            cancel,
        }
    }
}

#[rigor_hal::async_trait]
impl Operator for ScreenOperator {
    async fn ask(&self, message: &str, choices: &[String], wants_text: bool) -> Option<Answer> {
        let rx = self.answers.wait();
        let prompt = PromptView {
            message: message.to_owned(),
            choices: if wants_text {
                Vec::new()
            } else {
                choices.to_vec()
            },
            refused: None,
        };
        self.shared
            .slot(&self.slot, |tile| tile.prompt = Some(prompt));
        let mut cancel = self.cancel.clone();
        let answer = tokio::select! {
            answer = rx => answer.ok(),
            _ = cancel.wait_for(|stop| *stop) => None,
        };
        self.shared.slot(&self.slot, |tile| tile.prompt = None);
        answer
    }
}
