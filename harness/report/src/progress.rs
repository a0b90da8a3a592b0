//! Progress on the terminal: a line per finished step, prefixed by its slot, libtest-style; on an
//! interactive terminal also a live line per slot (indicatif) with the step it is on.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rigor_runner::event::{Event, StepOutcome, Subscriber};

/// Prints what each slot does as it happens, and a line per finished run.
pub struct Progress {
    /// The live lines, when stdout is a terminal; the finished-step lines go above them.
    live: Option<Live>,
}

struct Live {
    multi: MultiProgress,
    slots: HashMap<String, ProgressBar>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Live lines if stdout is a terminal; plain lines only (for CI logs and pipes) if not.
    pub fn new() -> Self {
        let live = std::io::stdout().is_terminal().then(|| Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            slots: HashMap::new(),
        });
        Progress { live }
    }

    fn line(&self, text: String) {
        match &self.live {
            // Printed above the live lines so they stay at the bottom.
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None => println!("{text}"),
        }
    }

    fn status(&mut self, slot: &str, status: String) {
        let Some(live) = &mut self.live else { return };
        let bar = live.slots.entry(slot.to_owned()).or_insert_with(|| {
            let bar = live.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{prefix}] {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(slot.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(status);
    }

    fn done(&mut self, slot: &str) {
        if let Some(bar) = self.live.as_mut().and_then(|l| l.slots.remove(slot)) {
            bar.finish_and_clear();
        }
    }
}

impl Subscriber for Progress {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run } => {
                let role = run
                    .role
                    .as_ref()
                    .map(|r| format!(" as {r}"))
                    .unwrap_or_default();
                self.line(format!(
                    "[{}] {} on {} {} (attempt {}){role}",
                    run.slot, run.scenario, run.generation, run.unit, run.attempt
                ));
                self.status(&run.slot, format!("{} {}", run.scenario, run.unit));
            }
            Event::StepStarted {
                slot,
                label,
                attempt,
                ..
            } => {
                let retry = retry_note(*attempt);
                self.status(slot, format!("{label}{retry}"));
            }
            Event::StepFinished {
                slot,
                label,
                attempt,
                outcome,
                duration,
                ..
            } => {
                let retry = retry_note(*attempt);
                let verdict = match outcome {
                    StepOutcome::Pass => "ok".to_owned(),
                    StepOutcome::Skipped => "skipped".to_owned(),
                    StepOutcome::Fail { message } => format!("FAILED: {message}"),
                    StepOutcome::Error { class, message } => format!("error ({class}): {message}"),
                };
                self.line(format!(
                    "[{slot}] {label}{retry} ... {verdict} ({} ms)",
                    duration.as_millis()
                ));
            }
            Event::RunFinished {
                run,
                outcome,
                message,
                duration,
                ..
            } => {
                self.done(&run.slot);
                let why = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                self.line(format!(
                    "[{}] {} {}: {outcome:?}{why} in {:.1}s",
                    run.slot,
                    run.scenario,
                    run.unit,
                    duration.as_secs_f64()
                ));
            }
            _ => {}
        }
    }
}

fn retry_note(attempt: u32) -> String {
    if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    }
}
