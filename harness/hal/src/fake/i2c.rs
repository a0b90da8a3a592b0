//! A fake I²C bus: parts that are register memories, and queued expectations for tests that
//! pin the exact transfers (as probe-rs's `FakeProbe` queues its answers).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::lock;
use crate::error::HalError;
use crate::seam::I2cBus;

const BUS: &str = "fake i²c bus";

/// A fake I²C bus.
///
/// With no expectation queued, transfers go to parts added with [`FakeI2c::add_part`]: 256-byte
/// register memories with an address pointer, as an EEPROM or a sensor has; an address with no
/// part does not acknowledge. With expectations queued, each transfer must be the next one
/// expected and gets its answer; any other transfer is recorded in [`FakeI2c::unmet`] and fails as
/// a rig error, so a test cannot mistake it for the device's fault.
#[derive(Debug, Clone, Default)]
pub struct FakeI2c {
    state: Arc<Mutex<BusState>>,
}

#[derive(Debug, Default)]
struct BusState {
    parts: HashMap<u8, Part>,
    expected: VecDeque<Expected>,
    mismatches: Vec<String>,
}

#[derive(Debug)]
struct Part {
    mem: Vec<u8>,
    pointer: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Transfer {
    WriteRead(Vec<u8>, usize),
    Write(Vec<u8>),
    Read(usize),
}

impl fmt::Display for Transfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transfer::WriteRead(w, n) => write!(f, "write {w:02x?} then read {n}"),
            Transfer::Write(w) => write!(f, "write {w:02x?}"),
            Transfer::Read(n) => write!(f, "read {n}"),
        }
    }
}

#[derive(Debug)]
struct Expected {
    address: u8,
    /// `None` matches any transfer to the address (for an expected NACK).
    transfer: Option<Transfer>,
    /// The bytes read, or `None` for a NACK.
    reply: Option<Vec<u8>>,
}

impl FakeI2c {
    /// Adds a part of 256 registers at `address`.
    pub fn add_part(&self, address: u8) {
        lock(&self.state).parts.insert(
            address,
            Part {
                mem: vec![0; 256],
                pointer: 0,
            },
        );
    }
    /// Sets registers of a part.
    pub fn poke(&self, address: u8, register: u8, bytes: &[u8]) {
        if let Some(part) = lock(&self.state).parts.get_mut(&address) {
            for (i, b) in bytes.iter().enumerate() {
                part.mem[(usize::from(register) + i) % 256] = *b;
            }
        }
    }
    /// Reads registers of a part.
    pub fn peek(&self, address: u8, register: u8, len: usize) -> Vec<u8> {
        lock(&self.state)
            .parts
            .get(&address)
            .map(|p| {
                (0..len)
                    .map(|i| p.mem[(usize::from(register) + i) % 256])
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Expects a write of `write` then a read answered with `reply`.
    pub fn expect_write_read(&self, address: u8, write: &[u8], reply: &[u8]) {
        self.queue(
            address,
            Some(Transfer::WriteRead(write.to_vec(), reply.len())),
            Some(reply.to_vec()),
        );
    }
    /// Expects a write of `bytes`, acknowledged.
    pub fn expect_write(&self, address: u8, bytes: &[u8]) {
        self.queue(
            address,
            Some(Transfer::Write(bytes.to_vec())),
            Some(Vec::new()),
        );
    }
    /// Expects a plain read answered with `reply`.
    pub fn expect_read(&self, address: u8, reply: &[u8]) {
        self.queue(
            address,
            Some(Transfer::Read(reply.len())),
            Some(reply.to_vec()),
        );
    }
    /// Expects any transfer to `address`, and does not acknowledge it.
    pub fn expect_nack(&self, address: u8) {
        self.queue(address, None, None);
    }

    /// Expectations not met yet and transfers that were not expected; empty when all went as
    /// planned.
    pub fn unmet(&self) -> Vec<String> {
        let s = lock(&self.state);
        let pending = s.expected.iter().map(|e| match &e.transfer {
            Some(t) => format!("expected {t} at {:#04x}, never came", e.address),
            None => format!("expected a nack at {:#04x}, never came", e.address),
        });
        s.mismatches.iter().cloned().chain(pending).collect()
    }

    fn queue(&self, address: u8, transfer: Option<Transfer>, reply: Option<Vec<u8>>) {
        lock(&self.state).expected.push_back(Expected {
            address,
            transfer,
            reply,
        });
    }

    fn transfer(&self, address: u8, transfer: Transfer) -> Result<Vec<u8>, HalError> {
        let mut s = lock(&self.state);
        if let Some(next) = s.expected.front() {
            let fits =
                next.address == address && next.transfer.as_ref().is_none_or(|t| *t == transfer);
            if !fits {
                let reason = match &next.transfer {
                    Some(t) => format!("expected {t} at {:#04x}", next.address),
                    None => format!("expected a transfer to {:#04x}", next.address),
                };
                let reason = format!("{reason}, got {transfer} at {address:#04x}");
                s.mismatches.push(reason.clone());
                return Err(HalError::Misconfigured {
                    what: BUS.to_owned(),
                    reason,
                });
            }
            let reply = s.expected.pop_front().and_then(|e| e.reply);
            return reply.ok_or_else(|| nack(address));
        }
        let part = s.parts.get_mut(&address).ok_or_else(|| nack(address))?;
        Ok(part.transfer(&transfer))
    }
}

impl Part {
    fn transfer(&mut self, transfer: &Transfer) -> Vec<u8> {
        let (write, read_len) = match transfer {
            Transfer::WriteRead(w, n) => (w.as_slice(), *n),
            Transfer::Write(w) => (w.as_slice(), 0),
            Transfer::Read(n) => (&[][..], *n),
        };
        // The first byte written sets the pointer; the rest are stored from there.
        if let Some((register, data)) = write.split_first() {
            self.pointer = usize::from(*register);
            for b in data {
                self.mem[self.pointer] = *b;
                self.pointer = (self.pointer + 1) % 256;
            }
        }
        (0..read_len)
            .map(|_| {
                let b = self.mem[self.pointer];
                self.pointer = (self.pointer + 1) % 256;
                b
            })
            .collect()
    }
}

fn nack(address: u8) -> HalError {
    HalError::Nack {
        bus: BUS.to_owned(),
        address,
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
        self.transfer(address, Transfer::WriteRead(write.to_vec(), read_len))
    }
    async fn write(&self, address: u8, bytes: &[u8]) -> Result<(), HalError> {
        self.transfer(address, Transfer::Write(bytes.to_vec()))
            .map(drop)
    }
    async fn read(&self, address: u8, len: usize) -> Result<Vec<u8>, HalError> {
        self.transfer(address, Transfer::Read(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Blame;

    #[tokio::test]
    async fn parts_are_register_memories_and_absent_ones_nack() {
        let bus = FakeI2c::default();
        bus.add_part(0x50);
        bus.write(0x50, &[0x10, 0xAB, 0xCD]).await.unwrap();
        assert_eq!(
            bus.write_read(0x50, &[0x10], 2).await.unwrap(),
            [0xAB, 0xCD]
        );
        // A plain read continues from the pointer the last transfer left.
        bus.poke(0x50, 0x12, &[0xEF]);
        assert_eq!(bus.read(0x50, 1).await.unwrap(), [0xEF]);
        let err = bus.write_read(0x51, &[0], 1).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "i²c address 0x51 on fake i²c bus did not acknowledge"
        );
        assert_eq!(err.blame(), Blame::Device);
    }

    #[tokio::test]
    async fn queued_expectations_answer_in_order_and_report_surprises() {
        let bus = FakeI2c::default();
        bus.expect_write_read(0x48, &[0x00], &[0x19, 0x40]);
        bus.expect_nack(0x48);
        bus.expect_write(0x48, &[0x01, 0x60]);
        assert_eq!(
            bus.write_read(0x48, &[0x00], 2).await.unwrap(),
            [0x19, 0x40]
        );
        assert!(matches!(
            bus.read(0x48, 2).await,
            Err(HalError::Nack { address: 0x48, .. })
        ));
        let err = bus.write(0x48, &[0x01, 0x00]).await.unwrap_err();
        assert!(err.is_infrastructure());
        assert_eq!(
            bus.unmet(),
            [
                "expected write [01, 60] at 0x48, got write [01, 00] at 0x48",
                "expected write [01, 60] at 0x48, never came",
            ]
        );
    }
}
