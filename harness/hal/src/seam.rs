//! The traits at the seam to hardware. One implementation per real interface lives in the driver
//! crates; the virtual bench is reached through the same ones. The traits are object-safe (the
//! engine picks backends at run time from the rig file) and small: what every backend can do.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::HalError;

/// A byte stream to a device's UART.
///
/// Serial-port semantics: a read returns whatever has arrived (possibly a single byte, possibly
/// half a line), and a port that vanished (USB re-enumeration, a closed pty) is an error, not an
/// end of stream. Every method is cancel-safe: an expect engine races `read` against a deadline,
/// and a read dropped before it completes must lose no bytes.
#[async_trait]
pub trait ConsolePort: Send {
    /// Waits for at least one byte, then returns what has arrived, up to `buf.len()`.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError>;
    /// Writes all bytes.
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError>;
    /// Changes the baud rate (bootloaders and applications often differ); a reopen keeps it.
    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError>;
    /// Opens the port again after it vanished, finding it by its stable identity (a by-id link,
    /// a USB serial number), since the OS may have given it another name.
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

    /// Resets the device through the probe (a reboot without power-cycling it).
    ///
    /// Provided so flashers written before it keep compiling; a probe that can reset overrides it.
    async fn reset(&mut self) -> Result<(), HalError> {
        Err(HalError::Unsupported {
            what: "reset".to_owned(),
            backend: "this flasher".to_owned(),
        })
    }
}

/// A change of level on a digital line, at a time since the watch began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// When, since the watch began.
    pub at: Duration,
    /// The new level: true is electrically high.
    pub high: bool,
}

/// Which change of level to wait for: the scenario's [`Edge`], here on electrical levels (the
/// binder has already turned an active-low signal's edge around).
pub use rigor_model::action::Edge;

/// How often the provided [`DigitalLine::wait_edge`] samples a line that cannot report edges.
const EDGE_POLL: Duration = Duration::from_millis(1);

/// One digital line, seen from the rig (levels are electrical: true is high).
///
/// One object per line rather than one per chip with line ids: the binder resolves every signal
/// to its line before the run, so a step can never name a line the backend lacks.
#[async_trait]
pub trait DigitalLine: Send + Sync {
    /// Drives the line.
    async fn set(&self, high: bool) -> Result<(), HalError>;
    /// Reads the line.
    async fn get(&self) -> Result<bool, HalError>;
    /// Watches the line for `window` and returns its level at the start and every change, so the
    /// engine can measure frequency, duty cycle and pulse width.
    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError>;

    /// Waits up to `within` for `edge`; returns it, timed from the call, or `None` if none came.
    ///
    /// No edge is an answer, not an error: whether it fails the step is the engine's call. The
    /// provided version samples the line; a backend with edge events (the GPIO character device)
    /// overrides it to catch pulses shorter than the sampling period.
    async fn wait_edge(
        &self,
        edge: Edge,
        within: Duration,
    ) -> Result<Option<Transition>, HalError> {
        let start = tokio::time::Instant::now();
        let mut was = self.get().await?;
        loop {
            let at = start.elapsed();
            if at >= within {
                return Ok(None);
            }
            tokio::time::sleep(EDGE_POLL.min(within - at)).await;
            let now = self.get().await?;
            if edge.is(was, now) {
                return Ok(Some(Transition {
                    at: start.elapsed(),
                    high: now,
                }));
            }
            was = now;
        }
    }
}

/// An I²C bus. A target that does not acknowledge is [`HalError::Nack`].
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

    /// Reads `len` bytes from `address` without writing first (a part's current pointer).
    ///
    /// Provided so buses written before it keep compiling; a zero-length write would not do as a
    /// default, since many parts treat it as a command.
    async fn read(&self, address: u8, len: usize) -> Result<Vec<u8>, HalError> {
        let _ = (address, len);
        Err(HalError::Unsupported {
            what: "a plain i²c read".to_owned(),
            backend: "this bus".to_owned(),
        })
    }
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
///
/// Channels and their units come from the instrument's register map in the rig description, so
/// the engine knows a channel's unit before it reads it; a reading is just the value. A Modbus
/// exception is [`HalError::Exception`] with its code, apart from transport failures.
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A line with only the required methods, to exercise the provided ones.
    struct Sampled(Arc<AtomicBool>);

    #[async_trait]
    impl DigitalLine for Sampled {
        async fn set(&self, high: bool) -> Result<(), HalError> {
            self.0.store(high, Ordering::SeqCst);
            Ok(())
        }
        async fn get(&self) -> Result<bool, HalError> {
            Ok(self.0.load(Ordering::SeqCst))
        }
        async fn watch(&self, _window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
            Ok((self.0.load(Ordering::SeqCst), Vec::new()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_provided_wait_edge_samples_the_line() {
        let level = Arc::new(AtomicBool::new(false));
        let line = Sampled(level.clone());
        let waiter =
            tokio::spawn(async move { line.wait_edge(Edge::Rising, Duration::from_secs(1)).await });
        tokio::time::sleep(Duration::from_millis(250)).await;
        level.store(true, Ordering::SeqCst);
        let edge = waiter.await.unwrap().unwrap().expect("the rising edge");
        assert!(edge.high);
        assert!(edge.at >= Duration::from_millis(250) && edge.at <= Duration::from_millis(252));

        let line = Sampled(level);
        let none = line
            .wait_edge(Edge::Falling, Duration::from_millis(50))
            .await;
        assert_eq!(none.unwrap(), None);
    }

    #[test]
    fn edges_know_their_direction() {
        assert!(Edge::Rising.is(false, true) && !Edge::Rising.is(true, false));
        assert!(Edge::Falling.is(true, false) && !Edge::Falling.is(true, true));
        assert!(Edge::Any.is(true, false) && Edge::Any.is(false, true));
    }
}
