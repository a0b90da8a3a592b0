//! Impairing a device's network link, and clearing it.

use rigor_hal::Impairment;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};

impl Run {
    pub(super) async fn net_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::NetImpair {
                link,
                latency,
                jitter,
                loss_percent,
                bandwidth_kbps,
                partition,
                duration,
            } => {
                let point = or_return!(self.link_of(&link.channel));
                let imp = Impairment {
                    latency: *latency,
                    jitter: *jitter,
                    loss_percent: *loss_percent,
                    bandwidth_kbps: *bandwidth_kbps,
                    partition: *partition,
                };
                try_hal!(
                    self.impairments
                        .apply(&link.channel, point, &imp, *duration)
                        .await
                );
                Done::Pass
            }
            BoundAction::NetClear { link } => {
                let point = or_return!(self.link_of(&link.channel));
                try_hal!(self.impairments.clear(&link.channel, &point).await);
                Done::Pass
            }
            _ => not_of_family(step, "net"),
        }
    }
}
