//! A digital line that is a boolean channel of a Modbus instrument, on any transport.

use std::sync::Arc;
use std::time::Duration;

use rigor_hal::{DigitalLine, HalError, Instrument, Reading, Transition, async_trait};
use tokio::time::Instant;

/// A digital line that is a boolean channel of a Modbus instrument (an I/O module, a relay, a PLC bit).
pub struct ModbusLine {
    instrument: Arc<dyn Instrument>,
    /// Channel written to drive the line.
    drive: String,
    /// Channel read to see the line (the same, or a discrete input wired back).
    sense: String,
    /// How often `watch` samples.
    poll: Duration,
}

impl ModbusLine {
    /// A line driven through `drive` and read through `sense`.
    pub fn new(
        instrument: Arc<dyn Instrument>,
        drive: impl Into<String>,
        sense: impl Into<String>,
    ) -> Self {
        Self {
            instrument,
            drive: drive.into(),
            sense: sense.into(),
            poll: Duration::from_millis(10),
        }
    }
}

#[async_trait]
impl DigitalLine for ModbusLine {
    async fn set(&self, high: bool) -> Result<(), HalError> {
        self.instrument
            .write(&self.drive, Reading::Bool(high))
            .await
    }

    async fn get(&self) -> Result<bool, HalError> {
        Ok(match self.instrument.read(&self.sense).await? {
            Reading::Bool(b) => b,
            Reading::Number(n) => n != 0.0,
        })
    }

    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
        // Modbus has no edge notification: sample. At 10 ms a 1 Hz blink is timed to 1 %.
        let start = Instant::now();
        let first = self.get().await?;
        let mut last = first;
        let mut out = Vec::new();
        while start.elapsed() < window {
            tokio::time::sleep(self.poll).await;
            let now = self.get().await?;
            if now != last {
                out.push(Transition {
                    at: start.elapsed(),
                    high: now,
                });
                last = now;
            }
        }
        Ok((first, out))
    }
}
