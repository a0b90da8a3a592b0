//! Fakes of every seam, for tests of the engine and of anything above it. They answer at once and
//! never sleep: a fake LED that blinks reports its transitions for a window without waiting it out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::HalError;
use crate::seam::{
    ConsolePort, DigitalLine, FirmwareImage, FlashReport, Flasher, I2cBus, Impairment, Instrument,
    NetImpairment, Reading, Transition,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a fake's lock has failed already; keep going with its state.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The host side of a fake console.
#[derive(Debug)]
pub struct FakeConsole {
    from_device: mpsc::UnboundedReceiver<Vec<u8>>,
    to_device: mpsc::UnboundedSender<Vec<u8>>,
    pending: Vec<u8>,
    state: Arc<Mutex<ConsoleState>>,
}

#[derive(Debug, Default)]
struct ConsoleState {
    vanished: bool,
    baud: u32,
    reopens: u32,
}

/// The device side of a fake console: what a test plays.
#[derive(Debug, Clone)]
pub struct ConsoleDevice {
    to_host: mpsc::UnboundedSender<Vec<u8>>,
    from_host: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>>,
    state: Arc<Mutex<ConsoleState>>,
}

impl FakeConsole {
    /// A console and the device end that plays it.
    pub fn pair() -> (FakeConsole, ConsoleDevice) {
        let (to_host, from_device) = mpsc::unbounded_channel();
        let (to_device, from_host) = mpsc::unbounded_channel();
        let state = Arc::new(Mutex::new(ConsoleState {
            baud: 115_200,
            ..ConsoleState::default()
        }));
        (
            FakeConsole {
                from_device,
                to_device,
                pending: Vec::new(),
                state: state.clone(),
            },
            ConsoleDevice {
                to_host,
                from_host: Arc::new(tokio::sync::Mutex::new(from_host)),
                state,
            },
        )
    }
}

impl ConsoleDevice {
    /// The device sends bytes.
    pub fn send(&self, bytes: impl AsRef<[u8]>) {
        let _ = self.to_host.send(bytes.as_ref().to_vec());
    }
    /// Waits for the next chunk the host wrote; `None` once the host is gone.
    pub async fn received(&self) -> Option<Vec<u8>> {
        self.from_host.lock().await.recv().await
    }
    /// The port vanishes (USB re-enumeration) until the host reopens it.
    pub fn vanish(&self) {
        lock(&self.state).vanished = true;
    }
    /// The baud rate the host set last.
    pub fn baud(&self) -> u32 {
        lock(&self.state).baud
    }
    /// How often the host reopened the port.
    pub fn reopens(&self) -> u32 {
        lock(&self.state).reopens
    }
}

#[async_trait]
impl ConsolePort for FakeConsole {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError> {
        if lock(&self.state).vanished {
            return Err(HalError::Disconnected {
                what: self.describe(),
                source: None,
            });
        }
        if self.pending.is_empty() {
            match self.from_device.recv().await {
                Some(chunk) => self.pending = chunk,
                None => {
                    return Err(HalError::Disconnected {
                        what: self.describe(),
                        source: None,
                    });
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError> {
        if lock(&self.state).vanished {
            return Err(HalError::Disconnected {
                what: self.describe(),
                source: None,
            });
        }
        self.to_device
            .send(bytes.to_vec())
            .map_err(|_| HalError::Disconnected {
                what: self.describe(),
                source: None,
            })
    }

    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError> {
        lock(&self.state).baud = baud;
        Ok(())
    }

    async fn reopen(&mut self) -> Result<(), HalError> {
        let mut s = lock(&self.state);
        s.vanished = false;
        s.reopens += 1;
        Ok(())
    }

    fn describe(&self) -> String {
        "fake console".to_owned()
    }
}

/// A fake digital line. Set and read it; make it blink; see what the rig drove.
#[derive(Debug, Clone, Default)]
pub struct FakeLine {
    state: Arc<Mutex<LineState>>,
}

#[derive(Debug, Default)]
struct LineState {
    high: bool,
    blink: Option<Duration>,
    history: Vec<bool>,
}

impl FakeLine {
    /// A line at `high`.
    pub fn new(high: bool) -> Self {
        let line = FakeLine::default();
        lock(&line.state).high = high;
        line
    }
    /// The device drives the line (the rig reads it).
    pub fn drive(&self, high: bool) {
        let mut s = lock(&self.state);
        s.high = high;
        s.blink = None;
    }
    /// The line toggles with this full period (a blinking LED).
    pub fn blink(&self, period: Duration) {
        lock(&self.state).blink = Some(period);
    }
    /// Every level the rig drove, in order.
    pub fn driven(&self) -> Vec<bool> {
        lock(&self.state).history.clone()
    }
}

#[async_trait]
impl DigitalLine for FakeLine {
    async fn set(&self, high: bool) -> Result<(), HalError> {
        let mut s = lock(&self.state);
        s.high = high;
        s.history.push(high);
        Ok(())
    }
    async fn get(&self) -> Result<bool, HalError> {
        Ok(lock(&self.state).high)
    }
    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
        let s = lock(&self.state);
        let Some(period) = s.blink else {
            return Ok((s.high, Vec::new()));
        };
        let half = period / 2;
        let mut level = s.high;
        let mut out = Vec::new();
        let mut at = half;
        while at <= window && !half.is_zero() {
            level = !level;
            out.push(Transition { at, high: level });
            at += half;
        }
        Ok((s.high, out))
    }
}

/// A fake I²C bus with parts that are register memories.
#[derive(Debug, Clone, Default)]
pub struct FakeI2c {
    parts: Arc<Mutex<HashMap<u8, Vec<u8>>>>,
}

impl FakeI2c {
    /// Adds a part of 256 registers at `address`.
    pub fn add_part(&self, address: u8) {
        lock(&self.parts).insert(address, vec![0; 256]);
    }
    /// Sets registers of a part.
    pub fn poke(&self, address: u8, register: u8, bytes: &[u8]) {
        if let Some(mem) = lock(&self.parts).get_mut(&address) {
            let start = usize::from(register);
            mem[start..start + bytes.len()].copy_from_slice(bytes);
        }
    }
    /// Reads registers of a part.
    pub fn peek(&self, address: u8, register: u8, len: usize) -> Vec<u8> {
        let start = usize::from(register);
        lock(&self.parts)
            .get(&address)
            .map(|m| m[start..start + len].to_vec())
            .unwrap_or_default()
    }
}

fn nack(address: u8) -> HalError {
    HalError::Refused {
        what: format!("I²C address {address:#04x}"),
        reason: "no acknowledge".to_owned(),
    }
}

#[async_trait]
impl I2cBus for FakeI2c {
    async fn write_read(
        &self,
        address: u8,
        write: &[u8],
        read_len: usize,
    ) -> Result<Vec<u8>, HalError> {
        let parts = lock(&self.parts);
        let mem = parts.get(&address).ok_or_else(|| nack(address))?;
        let start = usize::from(write.first().copied().unwrap_or(0));
        Ok(mem
            .iter()
            .cycle()
            .skip(start)
            .take(read_len)
            .copied()
            .collect())
    }
    async fn write(&self, address: u8, bytes: &[u8]) -> Result<(), HalError> {
        let mut parts = lock(&self.parts);
        let mem = parts.get_mut(&address).ok_or_else(|| nack(address))?;
        if let Some((register, data)) = bytes.split_first() {
            for (i, b) in data.iter().enumerate() {
                mem[(usize::from(*register) + i) % 256] = *b;
            }
        }
        Ok(())
    }
}

/// A fake instrument: channels hold readings; a test can make the next request fail.
#[derive(Debug, Clone, Default)]
pub struct FakeInstrument {
    channels: Arc<Mutex<BTreeMap<String, Reading>>>,
    fail_next: Arc<Mutex<Option<HalError>>>,
}

impl FakeInstrument {
    /// Sets what a channel reads.
    pub fn set(&self, channel: &str, value: Reading) {
        lock(&self.channels).insert(channel.to_owned(), value);
    }
    /// What a channel holds now.
    pub fn value(&self, channel: &str) -> Option<Reading> {
        lock(&self.channels).get(channel).copied()
    }
    /// The next request fails with `error`.
    pub fn fail_next(&self, error: HalError) {
        *lock(&self.fail_next) = Some(error);
    }
}

#[async_trait]
impl Instrument for FakeInstrument {
    async fn read(&self, channel: &str) -> Result<Reading, HalError> {
        if let Some(e) = lock(&self.fail_next).take() {
            return Err(e);
        }
        lock(&self.channels)
            .get(channel)
            .copied()
            .ok_or_else(|| HalError::Exception {
                what: format!("fake instrument, channel {channel}"),
                code: 2,
                name: crate::error::modbus_exception_name(2),
            })
    }
    async fn write(&self, channel: &str, value: Reading) -> Result<(), HalError> {
        if let Some(e) = lock(&self.fail_next).take() {
            return Err(e);
        }
        lock(&self.channels).insert(channel.to_owned(), value);
        Ok(())
    }
}

/// A fake flasher that keeps what it was given.
#[derive(Debug, Clone, Default)]
pub struct FakeFlasher {
    images: Arc<Mutex<Vec<FirmwareImage>>>,
    refuse: Arc<Mutex<Option<String>>>,
}

impl FakeFlasher {
    /// Every image flashed, in order.
    pub fn images(&self) -> Vec<FirmwareImage> {
        lock(&self.images).clone()
    }
    /// Refuse every image with this reason.
    pub fn refuse(&self, reason: &str) {
        *lock(&self.refuse) = Some(reason.to_owned());
    }
}

#[async_trait]
impl Flasher for FakeFlasher {
    async fn flash(
        &mut self,
        image: &FirmwareImage,
        verify: bool,
    ) -> Result<FlashReport, HalError> {
        if let Some(reason) = lock(&self.refuse).clone() {
            return Err(HalError::Refused {
                what: image.name.clone(),
                reason,
            });
        }
        lock(&self.images).push(image.clone());
        Ok(FlashReport {
            bytes_written: image.bytes.len(),
            verified: verify,
        })
    }
}

/// A fake impairment point that keeps what it was told.
#[derive(Debug, Clone, Default)]
pub struct FakeNet {
    log: Arc<Mutex<Vec<Option<Impairment>>>>,
}

impl FakeNet {
    /// Every impairment applied, `None` for a clear, in order.
    pub fn log(&self) -> Vec<Option<Impairment>> {
        lock(&self.log).clone()
    }
}

#[async_trait]
impl NetImpairment for FakeNet {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        lock(&self.log).push(Some(impairment.clone()));
        Ok(())
    }
    async fn clear(&self) -> Result<(), HalError> {
        lock(&self.log).push(None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn console_carries_bytes_both_ways_and_vanishes() {
        let (mut port, device) = FakeConsole::pair();
        device.send(b"boot ok\r\n");
        let mut buf = [0u8; 4];
        assert_eq!(port.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"boot");
        port.write_all(b"version\r\n").await.unwrap();
        assert_eq!(device.received().await.unwrap(), b"version\r\n");
        device.vanish();
        assert!(matches!(
            port.read(&mut buf).await,
            Err(HalError::Disconnected { .. })
        ));
        port.reopen().await.unwrap();
        assert_eq!(device.reopens(), 1);
        assert_eq!(port.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b" ok\r");
    }

    #[tokio::test]
    async fn a_blinking_line_reports_its_transitions() {
        let led = FakeLine::new(false);
        led.blink(Duration::from_secs(1));
        let (start, t) = led.watch(Duration::from_secs(2)).await.unwrap();
        assert!(!start);
        assert_eq!(
            t.iter()
                .map(|t| (t.at.as_millis(), t.high))
                .collect::<Vec<_>>(),
            [(500, true), (1000, false), (1500, true), (2000, false)]
        );
    }

    #[tokio::test]
    async fn i2c_parts_are_register_memories_and_absent_ones_nack() {
        let bus = FakeI2c::default();
        bus.add_part(0x50);
        bus.write(0x50, &[0x10, 0xAB, 0xCD]).await.unwrap();
        assert_eq!(
            bus.write_read(0x50, &[0x10], 2).await.unwrap(),
            [0xAB, 0xCD]
        );
        let err = bus.write_read(0x51, &[0], 1).await.unwrap_err();
        assert_eq!(err.to_string(), "I²C address 0x51 refused: no acknowledge");
        assert_eq!(err.blame(), crate::Blame::Device);
    }

    #[tokio::test]
    async fn instruments_fail_with_typed_exceptions() {
        let psu = FakeInstrument::default();
        psu.set("current", Reading::Number(0.06));
        assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.06));
        let err = psu.read("nope").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake instrument, channel nope answered with Modbus exception 2 (illegal data address)"
        );
        assert_eq!(err.blame(), crate::Blame::Rig);
    }
}
