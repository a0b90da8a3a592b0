//! Flashing through a GDB stub: halt, load, verify, reset, let it run.

use std::time::Duration;

use rigor_hal::{FirmwareImage, FlashReport, Flasher, HalError, async_trait};
use tokio::net::TcpStream;

use crate::client::GdbRemote;
use crate::error::GdbError;
use crate::image::segments;

/// How a stub resets its target after a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetMethod {
    /// A monitor command: `system_reset` for QEMU, `reset halt` for OpenOCD.
    Monitor(String),
    /// None: the target runs from where it was halted (some stubs reset on detach).
    None,
}

/// A flasher that talks to a GDB stub over TCP.
#[derive(Debug, Clone)]
pub struct GdbFlasher {
    address: String,
    timeout: Duration,
    reset: ResetMethod,
    largest_packet: usize,
}

impl GdbFlasher {
    /// A flasher for the stub at `address` (`host:port`), resetting with `reset`.
    pub fn new(address: impl Into<String>, reset: ResetMethod) -> Self {
        GdbFlasher {
            address: address.into(),
            timeout: Duration::from_secs(5),
            reset,
            largest_packet: 0,
        }
    }

    /// Sets how long each request may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest packet the last flash sent (never more than the stub's `PacketSize`).
    pub fn largest_packet(&self) -> usize {
        self.largest_packet
    }

    async fn session(&self) -> Result<GdbRemote<TcpStream>, GdbError> {
        let mut gdb = GdbRemote::connect(&self.address, self.timeout).await?;
        gdb.halt().await?;
        Ok(gdb)
    }

    async fn restart(&self, gdb: &mut GdbRemote<TcpStream>) -> Result<(), GdbError> {
        // QEMU's core reads its vector table at reset: a plain continue would leave SP at 0.
        if let ResetMethod::Monitor(command) = &self.reset {
            gdb.monitor(command).await?;
        }
        Ok(())
    }

    /// Loads, verifies and restarts: the flash, in terms of the protocol.
    pub async fn load(
        &mut self,
        image: &FirmwareImage,
        verify: bool,
    ) -> Result<FlashReport, GdbError> {
        let segments = segments(image)?;
        let mut gdb = self.session().await?;
        let mut written = 0;
        for s in &segments {
            gdb.write_memory(s.address, &s.data).await?;
            written += s.data.len();
        }
        if verify {
            for s in &segments {
                check(&mut gdb, s.address, &s.data).await?;
            }
        }
        self.restart(&mut gdb).await?;
        self.largest_packet = gdb.largest_sent();
        gdb.detach().await?;
        Ok(FlashReport {
            bytes_written: written,
            verified: verify,
        })
    }
}

/// Compares target memory with `data`: by the stub's CRC where it computes one, else by reading
/// it back.
async fn check(gdb: &mut GdbRemote<TcpStream>, address: u64, data: &[u8]) -> Result<(), GdbError> {
    if let Some(crc) = gdb.crc(address, data.len()).await? {
        let expected = crate::packet::crc32(data);
        if crc == expected {
            return Ok(());
        }
        return Err(GdbError::Verify {
            address,
            what: format!(
                "the target's CRC of {} bytes is {crc:#010x}, the image's {expected:#010x}",
                data.len()
            ),
        });
    }
    let back = gdb.read_memory(address, data.len()).await?;
    match back.iter().zip(data).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(GdbError::Verify {
            address: address + i as u64,
            what: format!(
                "read back {:#04x}, wrote {:#04x} (an address outside writable memory?)",
                back[i], data[i]
            ),
        }),
    }
}

#[async_trait]
impl Flasher for GdbFlasher {
    async fn flash(
        &mut self,
        image: &FirmwareImage,
        verify: bool,
    ) -> Result<FlashReport, HalError> {
        Ok(self.load(image, verify).await?)
    }

    async fn reset(&mut self) -> Result<(), HalError> {
        let mut gdb = self.session().await?;
        self.restart(&mut gdb).await?;
        gdb.detach().await?;
        Ok(())
    }
}
