//! Linux I²C buses through i2c-dev (`/dev/i2c-N`, the `i2cdev` crate). The bus's calls are
//! serialized, since one adapter drives one bus.
//!
//! Adapters differ in what they can do: a real I²C controller does plain I²C transfers
//! (`I2C_RDWR`: a register read is one transaction, write then read with a repeated start, as
//! parts with a pointer register need); many PC SMBus controllers, some USB bridges and the
//! kernel's `i2c-stub` do only SMBus transfers, and `I2C_RDWR` fails there with `EOPNOTSUPP`. So
//! the bus asks the adapter (`I2C_FUNCS`) when it opens, says in the log which kind it uses, and
//! carries each access as plain I²C or as the SMBus transfer that puts the same bytes on the wire
//! ([`smbus`]).
//!
//! Verified against the kernel's `i2c-stub` (SMBus-only) in a Debian kernel guest
//! (`tests/kernel`, run by `.ci/kernel-tests`): the profiles' sensor and EEPROM registers written
//! and read back, and an empty address reported as a NACK. Plain I²C transfers are verified only
//! by type-checking: no kernel driver stands in for an I²C controller.

pub mod smbus;

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use i2cdev::core::{I2CDevice, I2CMessage, I2CTransfer};
use i2cdev::linux::{LinuxI2CBus, LinuxI2CDevice, LinuxI2CError, LinuxI2CMessage};
use rigor_hal::{HalError, I2cBus, async_trait};

pub use smbus::Funcs;
use smbus::Op;

/// How i2c-dev adapters report a target that did not acknowledge its address: `ENXIO` (the
/// kernel's documented code), `EREMOTEIO` (some I²C controllers), `ENODEV` (i2c-stub, for an
/// address no chip answers). Some adapters say `EIO`, which also means a broken bus; it stays the
/// rig's.
const NACK_ERRNOS: [i32; 3] = [6, 19, 121];

/// `I2C_FUNCS` (`linux/i2c-dev.h`): the adapter's functionality bits.
const I2C_FUNCS: u64 = 0x0705;

/// An i2c-dev bus.
pub struct I2cDevBus {
    path: PathBuf,
    funcs: Funcs,
    transport: Arc<Mutex<Transport>>,
}

/// How accesses reach the adapter.
enum Transport {
    /// Plain I²C transfers (`I2C_RDWR`).
    I2c(LinuxI2CBus),
    /// SMBus transfers, through a handle bound to the address used last (SMBus calls take their
    /// address from the handle, `I2C_SLAVE`).
    Smbus(Option<(u8, LinuxI2CDevice)>),
}

impl I2cDevBus {
    /// Opens `/dev/i2c-N` and asks the adapter whether it does plain I²C or only SMBus.
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
        let funcs = query_funcs(&bus).map_err(|source| HalError::Io {
            what: format!(
                "asking i²c bus {} what it can do (I2C_FUNCS)",
                path.display()
            ),
            source,
        })?;
        let transport = if funcs.has(Funcs::I2C) {
            tracing::info!(bus = %path.display(), funcs = format_args!("{:#x}", funcs.0),
                "i²c bus does plain I²C transfers");
            Transport::I2c(bus)
        } else {
            tracing::info!(bus = %path.display(), funcs = format_args!("{:#x}", funcs.0),
                "i²c bus is SMBus-only: register accesses go as SMBus transfers");
            Transport::Smbus(None)
        };
        Ok(I2cDevBus {
            path,
            funcs,
            transport: Arc::new(Mutex::new(transport)),
        })
    }

    /// What the adapter said it can do.
    pub fn funcs(&self) -> Funcs {
        self.funcs
    }

    /// Whether accesses go as SMBus transfers (the adapter does no plain I²C).
    pub fn uses_smbus(&self) -> bool {
        !self.funcs.has(Funcs::I2C)
    }

    /// Writes `write`, then reads `read_len` bytes, as one transaction, on the blocking pool.
    async fn transfer(
        &self,
        address: u8,
        write: Vec<u8>,
        read_len: usize,
    ) -> Result<Vec<u8>, HalError> {
        let (transport, path, funcs) = (self.transport.clone(), self.path.clone(), self.funcs);
        tokio::task::spawn_blocking(move || {
            let mut transport = transport
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &mut *transport {
                Transport::I2c(bus) => i2c_transfer(bus, &path, address, &write, read_len),
                Transport::Smbus(handle) => {
                    smbus_transfer(handle, &path, funcs, address, &write, read_len)
                }
            }
        })
        .await
        .map_err(|e| HalError::Io {
            what: format!("i²c bus {}", self.path.display()),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

/// Asks the adapter behind `bus` what it can do.
#[allow(unsafe_code)]
fn query_funcs(bus: &impl AsRawFd) -> std::io::Result<Funcs> {
    let mut funcs: libc::c_ulong = 0;
    // SAFETY: I2C_FUNCS writes one unsigned long through its argument, which points at `funcs`,
    // alive for the call; the descriptor is borrowed from an open bus for the call's duration.
    let rc = unsafe { libc::ioctl(bus.as_raw_fd(), I2C_FUNCS as _, &mut funcs) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // `c_ulong` is 32 bits wide on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(Funcs(u64::from(funcs)))
}

fn i2c_transfer(
    bus: &mut LinuxI2CBus,
    path: &std::path::Path,
    address: u8,
    write: &[u8],
    read_len: usize,
) -> Result<Vec<u8>, HalError> {
    let mut read = vec![0u8; read_len];
    let mut messages = plan(address, write, &mut read);
    bus.transfer(&mut messages)
        .map_err(|e| error(path, address, e))?;
    drop(messages);
    Ok(read)
}

fn smbus_transfer(
    handle: &mut Option<(u8, LinuxI2CDevice)>,
    path: &std::path::Path,
    funcs: Funcs,
    address: u8,
    write: &[u8],
    read_len: usize,
) -> Result<Vec<u8>, HalError> {
    let op = smbus::op(funcs, write, read_len).map_err(|why| HalError::Unsupported {
        what: format!(
            "writing {} and reading {read_len} bytes at {address:#04x} in one transaction",
            write.len()
        ),
        backend: format!("SMBus-only i²c bus {} ({why})", path.display()),
    })?;
    let device = match handle {
        Some((bound, device)) if *bound == address => device,
        Some((bound, device)) => {
            device
                .set_slave_address(u16::from(address))
                .map_err(|e| error(path, address, e))?;
            *bound = address;
            device
        }
        None => {
            let device = LinuxI2CDevice::new(path, u16::from(address))
                .map_err(|e| error(path, address, e))?;
            &mut handle.insert((address, device)).1
        }
    };
    let done = match op {
        Op::Quick => device.smbus_write_quick(false).map(|()| Vec::new()),
        Op::ReadByte => device.smbus_read_byte().map(|b| vec![b]),
        Op::WriteByte(b) => device.smbus_write_byte(b).map(|()| Vec::new()),
        Op::ReadByteData(reg) => device.smbus_read_byte_data(reg).map(|b| vec![b]),
        Op::WriteByteData(reg, b) => device.smbus_write_byte_data(reg, b).map(|()| Vec::new()),
        Op::ReadWordData(reg) => device
            .smbus_read_word_data(reg)
            .map(|w| w.to_le_bytes().to_vec()),
        Op::WriteWordData(reg, w) => device.smbus_write_word_data(reg, w).map(|()| Vec::new()),
        Op::ReadI2cBlock(reg, n) => device.smbus_read_i2c_block_data(reg, n),
        Op::WriteI2cBlock(reg, data) => device
            .smbus_write_i2c_block_data(reg, &data)
            .map(|()| Vec::new()),
    };
    let read = done.map_err(|e| error(path, address, e))?;
    if read.len() != read_len {
        return Err(HalError::Io {
            what: format!("i²c bus {}, address {address:#04x}", path.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read {} of {read_len} bytes", read.len()),
            ),
        });
    }
    Ok(read)
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
fn error(path: &std::path::Path, address: u8, e: LinuxI2CError) -> HalError {
    let path = path.display().to_string();
    match e {
        LinuxI2CError::Errno(n) if NACK_ERRNOS.contains(&n) => HalError::Nack {
            bus: path.clone(),
            address,
        },
        LinuxI2CError::Io(source)
            if source
                .raw_os_error()
                .is_some_and(|n| NACK_ERRNOS.contains(&n)) =>
        {
            HalError::Nack {
                bus: path.clone(),
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
        for errno in [6, 19, 121] {
            let e = error(
                std::path::Path::new("/dev/i2c-1"),
                0x48,
                LinuxI2CError::Errno(errno),
            );
            assert!(matches!(e, HalError::Nack { address: 0x48, .. }), "{e}");
            assert_eq!(e.blame(), rigor_hal::Blame::Device);
        }
        let e = error(
            std::path::Path::new("/dev/i2c-1"),
            0x48,
            LinuxI2CError::Errno(16),
        );
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
