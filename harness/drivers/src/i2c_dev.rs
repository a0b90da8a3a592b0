//! Linux I²C buses through i2c-dev (`/dev/i2c-N`, the `i2cdev` crate). A register read is one
//! `I2C_RDWR` transaction, write then read with a repeated start, as parts with a pointer
//! register need; the bus's calls are serialized, since one adapter drives one bus.
//!
//! **Not yet verified against a kernel**: this machine's kernel has no I²C subsystem. The errno
//! mapping is unit-tested; the transfers are verified only by type-checking. Later work: the
//! kernel's `i2c-stub` driver in a KVM guest.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use i2cdev::core::{I2CMessage, I2CTransfer};
use i2cdev::linux::{LinuxI2CBus, LinuxI2CError, LinuxI2CMessage};
use rigor_hal::{HalError, I2cBus, async_trait};

/// `ENXIO` and `EREMOTEIO`: how i2c-dev adapters report a target that did not acknowledge. (Some
/// adapters say `EIO`, which also means a broken bus; it stays the rig's.)
const NACK_ERRNOS: [i32; 2] = [6, 121];

/// An i2c-dev bus.
pub struct I2cDevBus {
    path: PathBuf,
    bus: Arc<Mutex<LinuxI2CBus>>,
}

impl I2cDevBus {
    /// Opens `/dev/i2c-N`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, HalError> {
        let path = path.into();
        let bus = LinuxI2CBus::new(&path).map_err(|e| match e {
            LinuxI2CError::Io(source) if source.kind() == std::io::ErrorKind::NotFound => {
                HalError::Disconnected {
                    what: format!("i²c bus {}", path.display()),
                    source: Some(source),
                }
            }
            other => HalError::Io {
                what: format!("opening i²c bus {}", path.display()),
                source: other.into(),
            },
        })?;
        Ok(I2cDevBus {
            path,
            bus: Arc::new(Mutex::new(bus)),
        })
    }

    /// Runs `messages` (built for `address`) as one transaction on the blocking pool.
    async fn transfer(
        &self,
        address: u8,
        write: Vec<u8>,
        read_len: usize,
    ) -> Result<Vec<u8>, HalError> {
        let (bus, path) = (self.bus.clone(), self.path.display().to_string());
        tokio::task::spawn_blocking(move || {
            let mut bus = bus
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut read = vec![0u8; read_len];
            let mut messages = plan(address, &write, &mut read);
            bus.transfer(&mut messages)
                .map_err(|e| error(&path, address, e))?;
            drop(messages);
            Ok(read)
        })
        .await
        .map_err(|e| HalError::Io {
            what: format!("i²c bus {}", self.path.display()),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

/// One message of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Write this many bytes.
    Write(usize),
    /// Read this many bytes.
    Read(usize),
}

/// The parts of one transaction: the write (if any), then the read (if any), under one start
/// and a repeated start between them.
fn parts(write_len: usize, read_len: usize) -> Vec<Part> {
    [
        (write_len > 0).then_some(Part::Write(write_len)),
        (read_len > 0).then_some(Part::Read(read_len)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The messages of [`parts`], addressed.
fn plan<'a>(address: u8, write: &'a [u8], read: &'a mut [u8]) -> Vec<LinuxI2CMessage<'a>> {
    let shape = parts(write.len(), read.len());
    let mut read = Some(read);
    shape
        .into_iter()
        .filter_map(|part| match part {
            Part::Write(_) => Some(LinuxI2CMessage::write(write)),
            Part::Read(_) => read.take().map(LinuxI2CMessage::read),
        })
        .map(|m| m.with_address(u16::from(address)))
        .collect()
}

/// An i2c-dev error as the seam's: a target that did not acknowledge is a NACK (the device's),
/// anything else the bus's.
fn error(path: &str, address: u8, e: LinuxI2CError) -> HalError {
    match e {
        LinuxI2CError::Errno(n) if NACK_ERRNOS.contains(&n) => HalError::Nack {
            bus: path.to_owned(),
            address,
        },
        LinuxI2CError::Io(source)
            if source
                .raw_os_error()
                .is_some_and(|n| NACK_ERRNOS.contains(&n)) =>
        {
            HalError::Nack {
                bus: path.to_owned(),
                address,
            }
        }
        other => HalError::Io {
            what: format!("i²c bus {path}, address {address:#04x}"),
            source: other.into(),
        },
    }
}

#[async_trait]
impl I2cBus for I2cDevBus {
    async fn write_read(
        &self,
        address: u8,
        write: &[u8],
        read_len: usize,
    ) -> Result<Vec<u8>, HalError> {
        self.transfer(address, write.to_vec(), read_len).await
    }

    async fn write(&self, address: u8, bytes: &[u8]) -> Result<(), HalError> {
        self.transfer(address, bytes.to_vec(), 0).await.map(drop)
    }

    async fn read(&self, address: u8, len: usize) -> Result<Vec<u8>, HalError> {
        self.transfer(address, Vec::new(), len).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_register_read_is_one_transaction_of_a_write_then_a_read() {
        assert_eq!(parts(1, 2), [Part::Write(1), Part::Read(2)]);
        assert_eq!(parts(2, 0), [Part::Write(2)]);
        assert_eq!(parts(0, 4), [Part::Read(4)]);
        let mut read = [0u8; 2];
        assert_eq!(plan(0x48, &[0x00], &mut read).len(), 2);
    }

    #[test]
    fn a_target_that_does_not_acknowledge_is_a_nack_and_others_are_the_buses() {
        for errno in [6, 121] {
            let e = error("/dev/i2c-1", 0x48, LinuxI2CError::Errno(errno));
            assert!(matches!(e, HalError::Nack { address: 0x48, .. }), "{e}");
            assert_eq!(e.blame(), rigor_hal::Blame::Device);
        }
        let e = error("/dev/i2c-1", 0x48, LinuxI2CError::Errno(16));
        assert_eq!(e.blame(), rigor_hal::Blame::Rig);
        assert_eq!(e.to_string(), "i²c bus /dev/i2c-1, address 0x48: i/o error");
    }

    #[test]
    fn a_bus_that_is_not_there_is_gone_and_named() {
        let err = I2cDevBus::open("/dev/i2c-99").err().unwrap();
        assert!(matches!(err, HalError::Disconnected { .. }), "{err}");
        assert!(err.to_string().contains("/dev/i2c-99"));
    }
}
