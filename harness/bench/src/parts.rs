//! The unit's I²C bus and its firmware slot, in-process: this machine's kernel has no I²C
//! subsystem (no i2c-stub to stand behind i2c-dev), so the bench hands rigor a bus object behind
//! the same `I2cBus` trait a Linux i2c-dev backend implements. The firmware slot stands for the
//! debug probe: the unit takes an image only for its own generation.

use std::sync::{Arc, Mutex, MutexGuard};

use rigor_hal::{FirmwareImage, FlashReport, Flasher, HalError, I2cBus, async_trait};

use crate::firmware;
use crate::unit::{Fault, State};

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The unit's I²C bus: the temperature sensor and, on generations with one, the EEPROM.
#[derive(Clone)]
pub struct Bus(pub(crate) Arc<Mutex<State>>);

fn nack(address: u8) -> HalError {
    HalError::Nack {
        bus: "the virtual bench's I²C bus".into(),
        address,
    }
}

#[async_trait]
impl I2cBus for Bus {
    async fn write_read(
        &self,
        address: u8,
        write: &[u8],
        read_len: usize,
    ) -> Result<Vec<u8>, HalError> {
        let mut s = lock(&self.0);
        // An unpowered board acknowledges nothing.
        if !s.supplied() {
            return Err(nack(address));
        }
        let register = usize::from(write.first().copied().unwrap_or(0));
        if address == s.temp_address {
            s.sensor_reads += 1;
            if s.faults.contains(&Fault::FlakySensor) && s.sensor_reads.is_multiple_of(3) {
                return Err(nack(address));
            }
            let reg = if register == 0 {
                s.temperature_register().to_vec()
            } else {
                vec![0x60, 0xA0]
            };
            return Ok(reg.into_iter().cycle().take(read_len).collect());
        }
        if address == 0x50
            && let Some(e) = &s.eeprom
        {
            return Ok((0..read_len).map(|i| e[(register + i) % 256]).collect());
        }
        Err(nack(address))
    }

    async fn write(&self, address: u8, bytes: &[u8]) -> Result<(), HalError> {
        let mut s = lock(&self.0);
        if !s.supplied() {
            return Err(nack(address));
        }
        if address == s.temp_address {
            return Ok(());
        }
        if address == 0x50
            && let Some(e) = s.eeprom.as_mut()
            && let Some((register, data)) = bytes.split_first()
        {
            for (i, b) in data.iter().enumerate() {
                e[(usize::from(*register) + i) % 256] = *b;
            }
            return Ok(());
        }
        Err(nack(address))
    }
}

/// The unit's firmware slot, written through the virtual probe.
#[derive(Clone)]
pub struct Slot(pub(crate) Arc<Mutex<State>>);

#[async_trait]
impl Flasher for Slot {
    async fn flash(
        &mut self,
        image: &FirmwareImage,
        verify: bool,
    ) -> Result<FlashReport, HalError> {
        let header = firmware::parse(&image.bytes).map_err(|reason| HalError::Refused {
            what: image.name.clone(),
            reason,
        })?;
        let mut s = lock(&self.0);
        if header.family != s.family || header.generation != s.generation {
            return Err(HalError::Refused {
                what: image.name.clone(),
                reason: format!(
                    "the image is for {} {}, this unit is {} {}",
                    header.family, header.generation, s.family, s.generation
                ),
            });
        }
        s.flash.write_by_probe(header.clone(), image.bytes.to_vec());
        s.firmware = Some(header);
        Ok(FlashReport {
            bytes_written: image.bytes.len(),
            verified: verify,
        })
    }
}
