//! The engine's events, once recorded, move the tiles: the step running, each measurement
//! against its limits as it comes, the attempt number the store gave the run.

use rigor_runner::event::{Event, Subscriber};
use rigor_runner::measurement::Verdict;

use crate::view::{MeasurementView, Shared};

/// Updates the screen from the engine's events.
pub struct ScreenEvents {
    shared: Shared,
}

impl ScreenEvents {
    /// Updates `shared`.
    pub fn new(shared: Shared) -> Self {
        ScreenEvents { shared }
    }
}

impl Subscriber for ScreenEvents {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run } => self.shared.slot(&run.slot, |tile| {
                tile.attempt = Some(run.attempt);
                tile.scenario = Some(run.scenario.clone());
            }),
            Event::StepStarted { slot, label, .. } => self.shared.slot(slot, |tile| {
                tile.step = Some(label.clone());
            }),
            Event::Measured { slot, judged, .. } => {
                let unit = judged.unit.map(|u| format!(" {u}")).unwrap_or_default();
                let measurement = MeasurementView {
                    name: judged.name.clone(),
                    value: short(&format!("{}{unit}", judged.value)),
                    limits: format!("{}{unit}", judged.limits),
                    verdict: match judged.verdict {
                        Verdict::Pass => "pass",
                        Verdict::Marginal => "marginal",
                        Verdict::Fail => "fail",
                    },
                };
                self.shared
                    .slot(slot, |tile| tile.measurements.push(measurement));
            }
            Event::StepFinished { .. } | Event::Artifact { .. } | Event::RunFinished { .. } => {}
        }
    }
}

/// A value short enough for a tile's column (a captured console log is not).
fn short(text: &str) -> String {
    const MAX: usize = 28;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX - 1).collect();
    cut.push('…');
    cut
}
