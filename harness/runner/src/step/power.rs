//! Switching a slot's power through its supply, relay or hub port.

use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};

impl Run {
    pub(super) async fn power(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::Power {
                state,
                volts,
                current_limit_amps,
                off_for,
                switch,
            } => {
                use rigor_model::action::PowerState;
                let (v, a) = (Some(*volts), Some(*current_limit_amps));
                match state {
                    PowerState::On => try_hal!(
                        crate::engine::switch_power(&self.devices.instruments, switch, true, v, a)
                            .await
                    ),
                    PowerState::Off => try_hal!(
                        crate::engine::switch_power(
                            &self.devices.instruments,
                            switch,
                            false,
                            None,
                            None
                        )
                        .await
                    ),
                    PowerState::Cycle => {
                        try_hal!(
                            crate::engine::switch_power(
                                &self.devices.instruments,
                                switch,
                                false,
                                None,
                                None
                            )
                            .await
                        );
                        tokio::time::sleep(*off_for).await;
                        try_hal!(
                            crate::engine::switch_power(
                                &self.devices.instruments,
                                switch,
                                true,
                                v,
                                a
                            )
                            .await
                        );
                    }
                }
                Done::Pass
            }
            _ => not_of_family(step, "power"),
        }
    }
}
