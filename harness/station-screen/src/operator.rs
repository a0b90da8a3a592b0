//! The operator at the screen answers a scenario's `prompt` steps: the question shows on the
//! slot's tile, and the answer (a scan, typed text, or a PASS/FAIL button) comes back from the
//! page.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rigor_runner::devices::{Answer, Operator, Question};
use tokio::sync::{oneshot, watch};

use crate::view::{PromptView, Shared};

/// The prompt waiting on a slot: where the page's answer goes, and the picture it shows.
#[derive(Default)]
struct Waiting {
    answer: Option<oneshot::Sender<Answer>>,
    image: Option<PathBuf>,
    /// Counts prompts, so each picture has its own address and no page shows a stale one.
    asked: u64,
}

/// Where the page's answer for a slot goes: the prompt waiting for it, if any.
#[derive(Default, Clone)]
pub struct AnswerSlot(Arc<Mutex<Waiting>>);

impl AnswerSlot {
    /// Hands `answer` to the waiting prompt; `false` if none waits.
    pub fn answer(&self, answer: Answer) -> bool {
        let waiting = self.lock().answer.take();
        waiting.is_some_and(|tx| tx.send(answer).is_ok())
    }

    /// The picture of the prompt asked `asked`-th on this slot, while it waits.
    pub fn image(&self, asked: u64) -> Option<PathBuf> {
        let waiting = self.lock();
        (waiting.asked == asked && waiting.answer.is_some())
            .then(|| waiting.image.clone())
            .flatten()
    }

    /// Waits for an answer to a new prompt; returns it with the prompt's number.
    fn wait(&self, image: Option<&Path>) -> (oneshot::Receiver<Answer>, u64) {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.lock();
        waiting.asked += 1;
        waiting.answer = Some(tx);
        waiting.image = image.map(Path::to_path_buf);
        (rx, waiting.asked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
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
    async fn ask(&self, question: Question<'_>) -> Option<Answer> {
        let (rx, asked) = self.answers.wait(question.image);
        let prompt = PromptView {
            message: question.message.to_owned(),
            choices: if question.wants_text {
                Vec::new()
            } else {
                question.choices.to_vec()
            },
            refused: None,
            image: question
                .image
                .map(|_| format!("/prompt-image/{}/{asked}", self.slot)),
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
