//! The I²C steps: read a register, write one, expect its contents.

use crate::measurement::Value;
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};

impl Run {
    pub(super) async fn i2c_step(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::I2cRead {
                target,
                register,
                bytes,
                name,
            } => {
                let bus = or_return!(self.bus_of(&target.channel));
                let data = try_hal!(
                    bus.write_read(target.address, &[*register], usize::from(*bytes))
                        .await
                );
                let n = data.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                self.captures.insert(name.clone(), Value::Number(n as f64));
                Done::Pass
            }
            BoundAction::I2cWrite {
                target,
                register,
                data,
            } => {
                let bus = or_return!(self.bus_of(&target.channel));
                let mut bytes = vec![*register];
                bytes.extend_from_slice(data);
                try_hal!(bus.write(target.address, &bytes).await);
                Done::Pass
            }
            BoundAction::I2cExpect {
                target,
                register,
                equals,
                mask,
            } => {
                let bus = or_return!(self.bus_of(&target.channel));
                let got = try_hal!(
                    bus.write_read(target.address, &[*register], equals.len())
                        .await
                );
                let masked = |v: &[u8]| -> Vec<u8> {
                    v.iter()
                        .enumerate()
                        .map(|(i, b)| {
                            b & mask
                                .as_ref()
                                .and_then(|m| m.get(i))
                                .copied()
                                .unwrap_or(0xFF)
                        })
                        .collect()
                };
                if masked(&got) == masked(equals) {
                    Done::Pass
                } else {
                    Done::Fail(format!(
                        "{} register {register:#04x} reads {got:02x?}, expected {equals:02x?}",
                        target.device
                    ))
                }
            }
            _ => not_of_family(step, "i2c"),
        }
    }
}
