//! Progress on the terminal: a line per finished step, prefixed by its slot, libtest-style.

use rigor_runner::event::{Event, StepOutcome, Subscriber};

/// Prints what each slot does as it happens, and a line per finished run.
#[derive(Debug, Default)]
pub struct Progress;

impl Subscriber for Progress {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run } => {
                println!(
                    "[{}] {} on {} {} (attempt {})",
                    run.slot, run.scenario, run.generation, run.unit, run.attempt
                );
            }
            Event::StepFinished {
                slot,
                label,
                attempt,
                outcome,
                duration,
                ..
            } => {
                let retry = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                let verdict = match outcome {
                    StepOutcome::Pass => "ok".to_owned(),
                    StepOutcome::Skipped => "skipped".to_owned(),
                    StepOutcome::Fail { message } => format!("FAILED: {message}"),
                    StepOutcome::Error { class, message } => {
                        format!("ERROR ({class:?}): {message}").to_lowercase()
                    }
                };
                println!(
                    "[{slot}] {label}{retry} ... {verdict} ({} ms)",
                    duration.as_millis()
                );
            }
            Event::RunFinished {
                run,
                outcome,
                message,
                duration,
                ..
            } => {
                let why = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                println!(
                    "[{}] {} {}: {outcome:?}{why} in {:.1}s",
                    run.slot,
                    run.scenario,
                    run.unit,
                    duration.as_secs_f64()
                );
            }
            _ => {}
        }
    }
}
