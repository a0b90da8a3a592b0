//! Fakes of the rig's own equipment: an instrument, a flasher, a network impairment point.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::lock;
use crate::error::{HalError, modbus_exception_name};
use crate::seam::{
    FirmwareImage, FlashReport, Flasher, Impairment, Instrument, NetImpairment, Reading,
};

/// A fake instrument: channels hold readings; a test can make the next request fail.
///
/// A channel never set answers Modbus exception 2 (illegal data address), as a real instrument
/// does for a register its map lacks.
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
    /// The next request is answered with Modbus exception `code`.
    pub fn exception_next(&self, code: u8) {
        self.fail_next(HalError::Exception {
            what: "fake instrument".to_owned(),
            code,
            name: modbus_exception_name(code),
        });
    }

    fn injected(&self) -> Result<(), HalError> {
        lock(&self.fail_next).take().map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Instrument for FakeInstrument {
    async fn read(&self, channel: &str) -> Result<Reading, HalError> {
        self.injected()?;
        lock(&self.channels)
            .get(channel)
            .copied()
            .ok_or_else(|| HalError::Exception {
                what: format!("fake instrument, channel {channel}"),
                code: 2,
                name: modbus_exception_name(2),
            })
    }
    async fn write(&self, channel: &str, value: Reading) -> Result<(), HalError> {
        self.injected()?;
        lock(&self.channels).insert(channel.to_owned(), value);
        Ok(())
    }
}

/// A fake flasher that keeps what it was given.
#[derive(Debug, Clone, Default)]
pub struct FakeFlasher {
    images: Arc<Mutex<Vec<FirmwareImage>>>,
    refuse: Arc<Mutex<Option<String>>>,
    resets: Arc<Mutex<u32>>,
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
    /// How often the device was reset through the flasher (flashing does not count).
    pub fn resets(&self) -> u32 {
        *lock(&self.resets)
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

    async fn reset(&mut self) -> Result<(), HalError> {
        *lock(&self.resets) += 1;
        Ok(())
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
    use std::time::Duration;

    use super::*;
    use crate::Blame;
    use crate::seam::ImageFormat;

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
        assert_eq!((err.blame(), err.exception_code()), (Blame::Rig, Some(2)));
        psu.exception_next(6);
        let err = psu.write("output", Reading::Bool(true)).await.unwrap_err();
        assert_eq!(err.exception_code(), Some(6));
        assert_eq!(psu.value("output"), None);
        psu.write("output", Reading::Bool(true)).await.unwrap();
        assert_eq!(psu.value("output"), Some(Reading::Bool(true)));
    }

    #[tokio::test]
    async fn the_flasher_keeps_images_counts_resets_and_can_refuse() {
        let mut probe = FakeFlasher::default();
        let image = FirmwareImage {
            name: "fw.bin".to_owned(),
            bytes: Arc::from(&b"\x7fELF"[..]),
            format: ImageFormat::Bin,
            base_address: Some(0x0800_0000),
        };
        let report = probe.flash(&image, true).await.unwrap();
        assert_eq!((report.bytes_written, report.verified), (4, true));
        probe.reset().await.unwrap();
        probe.refuse("signature does not verify");
        let err = probe.flash(&image, false).await.unwrap_err();
        assert_eq!(err.to_string(), "fw.bin refused: signature does not verify");
        assert_eq!(err.blame(), Blame::Device);
        assert_eq!((probe.images().len(), probe.resets()), (1, 1));
    }

    #[tokio::test]
    async fn the_impairment_point_logs_applies_and_clears() {
        let net = FakeNet::default();
        let lossy = Impairment {
            loss_percent: Some(30.0),
            latency: Some(Duration::from_millis(200)),
            ..Impairment::default()
        };
        net.apply(&lossy).await.unwrap();
        net.clear().await.unwrap();
        assert_eq!(net.log(), [Some(lossy), None]);
    }
}
