//! The traits at the seam to hardware. One implementation per real interface lives in the driver
//! crates; the virtual bench is reached through the same ones. The traits are object-safe (the
//! engine picks backends at run time from the rig file) and small: what every backend can do.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::HalError;

/// A byte stream to a device's UART.
#[async_trait]
pub trait ConsolePort: Send {
    /// Reads what has arrived, waiting for at least one byte. Returns the count.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError>;
    /// Writes all bytes.
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError>;
    /// Changes the baud rate (bootloaders and applications often differ).
    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError>;
    /// Opens the port again after it vanished, finding it by its stable identity.
    async fn reopen(&mut self) -> Result<(), HalError>;
    /// The port, for messages and transcripts.
    fn describe(&self) -> String;
}

/// A firmware image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// ELF with load segments.
    Elf,
    /// Intel HEX.
    Hex,
    /// Raw binary at a base address.
    Bin,
}

/// A firmware image to write.
#[derive(Debug, Clone)]
pub struct FirmwareImage {
    /// Where it came from, for messages.
    pub name: String,
    /// The file's bytes.
    pub bytes: Arc<[u8]>,
    /// Its format.
    pub format: ImageFormat,
    /// Where a raw binary goes.
    pub base_address: Option<u64>,
}

/// What a flash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashReport {
    /// Bytes written.
    pub bytes_written: usize,
    /// Whether they were read back and compared.
    pub verified: bool,
}

/// Writes firmware into a device.
#[async_trait]
pub trait Flasher: Send {
    /// Writes `image`, verifies it if asked, and resets the device so it runs the new image.
    async fn flash(&mut self, image: &FirmwareImage, verify: bool)
    -> Result<FlashReport, HalError>;
}

/// A change of level on a digital line, at a time since the watch began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// When, since the watch began.
    pub at: Duration,
    /// The new level: true is electrically high.
    pub high: bool,
}

/// One digital line, seen from the rig (levels are electrical: true is high).
#[async_trait]
pub trait DigitalLine: Send + Sync {
    /// Drives the line.
    async fn set(&self, high: bool) -> Result<(), HalError>;
    /// Reads the line.
    async fn get(&self) -> Result<bool, HalError>;
    /// Watches the line for `window` and returns its level at the start and every change.
    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError>;
}

/// An I²C bus.
#[async_trait]
pub trait I2cBus: Send + Sync {
    /// Writes `write` to `address`, then reads `read_len` bytes (a repeated-start transfer).
    async fn write_read(
        &self,
        address: u8,
        write: &[u8],
        read_len: usize,
    ) -> Result<Vec<u8>, HalError>;
    /// Writes bytes to `address`.
    async fn write(&self, address: u8, bytes: &[u8]) -> Result<(), HalError>;
}

/// A value an instrument channel holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// A scaled number, in the channel's unit.
    Number(f64),
    /// A switch or bit.
    Bool(bool),
}

/// An instrument with named channels (power supply, meter, relay board, PLC).
#[async_trait]
pub trait Instrument: Send + Sync {
    /// Reads a channel.
    async fn read(&self, channel: &str) -> Result<Reading, HalError>;
    /// Writes a channel.
    async fn write(&self, channel: &str, value: Reading) -> Result<(), HalError>;
}

/// How to impair a network link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Impairment {
    /// Added one-way latency.
    pub latency: Option<Duration>,
    /// Latency jitter.
    pub jitter: Option<Duration>,
    /// Share of packets or chunks dropped, 0 to 100.
    pub loss_percent: Option<f64>,
    /// Bandwidth cap in kbit/s.
    pub bandwidth_kbps: Option<u32>,
    /// Cut the link.
    pub partition: bool,
}

/// A point where a device's network traffic can be impaired.
#[async_trait]
pub trait NetImpairment: Send + Sync {
    /// Applies an impairment, replacing any before it.
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError>;
    /// Removes every impairment.
    async fn clear(&self) -> Result<(), HalError>;
}
