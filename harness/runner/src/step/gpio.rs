//! The digital line steps: set, pulse, read, expect a level, wait for an edge, measure a signal.

use rigor_model::action::Edge;

use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};

impl Run {
    pub(super) async fn gpio_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::GpioSet { line, high } => {
                let l = or_return!(self.line_of(line));
                try_hal!(l.set(*high).await);
                Done::Pass
            }
            BoundAction::GpioPulse {
                line,
                high,
                duration,
            } => {
                let l = or_return!(self.line_of(line));
                try_hal!(l.set(*high).await);
                tokio::time::sleep(*duration).await;
                try_hal!(l.set(!*high).await);
                Done::Pass
            }
            BoundAction::GpioRead { line, name } => {
                let l = or_return!(self.line_of(line));
                let high = try_hal!(l.get().await);
                let active = high != line.active_low;
                self.captures
                    .insert(name.clone(), Value::Number(if active { 1.0 } else { 0.0 }));
                Done::Pass
            }
            BoundAction::GpioExpect { line, high, within } => {
                let l = or_return!(self.line_of(line));
                if try_hal!(l.get().await) == *high {
                    return Done::Pass;
                }
                let toward = if *high { Edge::Rising } else { Edge::Falling };
                // Through the seam: a line with kernel edge events wakes at the change itself.
                if try_hal!(l.wait_edge(toward, *within).await).is_some() {
                    return Done::Pass;
                }
                // The level may have changed between the first look and the wait.
                let now = try_hal!(l.get().await);
                if now == *high {
                    return Done::Pass;
                }
                Done::Fail(format!(
                    "`{}` stayed {} for {within:?}; expected {}",
                    line.signal,
                    level_name(line, now),
                    level_name(line, *high)
                ))
            }
            BoundAction::GpioWaitEdge { line, edge, within } => {
                let l = or_return!(self.line_of(line));
                // The binder already turned the signal's edge into the electrical one.
                match try_hal!(l.wait_edge(*edge, *within).await) {
                    Some(_) => Done::Pass,
                    None => Done::Fail(format!(
                        "no {} edge on `{}` within {within:?}",
                        edge.name(),
                        line.signal
                    )),
                }
            }
            BoundAction::GpioMeasure {
                name,
                line,
                quantity,
                window,
                limits,
            } => {
                let l = or_return!(self.line_of(line));
                let (start, transitions) = try_hal!(l.watch(*window).await);
                let value = signal_quantity(
                    *quantity,
                    start != line.active_low,
                    &transitions,
                    *window,
                    line.active_low,
                );
                self.judge(name, Value::Number(value), Some(quantity.unit()), limits)
            }
            _ => not_of_family(step, "gpio"),
        }
    }
}
