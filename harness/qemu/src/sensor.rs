//! The emulated TMP105's surroundings: what temperature it measures.
//!
//! Not an [`rigor_hal::I2cBus`]: the firmware is the I2C master here, and rigor sets the world the
//! sensor measures, through the device's `temperature` property over QMP.

use std::sync::Arc;

use serde_json::json;

use crate::error::{Channel, QemuError};
use crate::qmp::Qmp;

/// A TMP105 added with `-device tmp105,...,id=ID` ([`crate::tmp105_device`]).
pub struct Tmp105 {
    qmp: Arc<Qmp>,
    path: String,
}

impl Tmp105 {
    /// The sensor with device id `id`.
    pub fn new(qmp: Arc<Qmp>, id: &str) -> Self {
        Tmp105 {
            qmp,
            path: format!("/machine/peripheral/{id}"),
        }
    }

    /// Sets the temperature the sensor measures, in milli-degrees Celsius. QEMU accepts -128 °C
    /// to 128 °C and keeps 1/256 °C; the sensor's register shows it at the resolution the
    /// firmware configured (0.0625 °C at 12 bits).
    pub async fn set_millicelsius(&self, milli: i32) -> Result<(), QemuError> {
        self.qmp
            .qom_set(&self.path, "temperature", json!(milli))
            .await
    }

    /// The temperature the sensor measures, in milli-degrees Celsius.
    pub async fn millicelsius(&self) -> Result<i32, QemuError> {
        let value = self.qmp.qom_get(&self.path, "temperature").await?;
        value
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| QemuError::Protocol {
                channel: Channel::Qmp,
                message: format!("the temperature of {} is {value}", self.path),
                source: None,
            })
    }
}

/// The emulated board's surroundings as an instrument: each channel is the temperature (°C) an
/// emulated sensor measures, so a scenario sets it with `instrument.write` as it would set a
/// climate chamber.
pub struct Environment {
    qmp: Arc<Qmp>,
    /// Channel name → the sensor's device id.
    sensors: std::collections::BTreeMap<String, String>,
}

impl Environment {
    /// Channels named by `sensors` (channel → device id).
    pub fn new(qmp: Arc<Qmp>, sensors: std::collections::BTreeMap<String, String>) -> Self {
        Environment { qmp, sensors }
    }

    fn sensor(&self, channel: &str) -> Result<Tmp105, rigor_hal::HalError> {
        let id = self
            .sensors
            .get(channel)
            .ok_or_else(|| rigor_hal::HalError::Misconfigured {
                what: format!("the emulated environment's channel `{channel}`"),
                reason: "the rig's `qemu.sensors` names no device for it".to_owned(),
            })?;
        Ok(Tmp105::new(self.qmp.clone(), id))
    }
}

#[rigor_hal::async_trait]
impl rigor_hal::Instrument for Environment {
    async fn read(&self, channel: &str) -> Result<rigor_hal::Reading, rigor_hal::HalError> {
        let milli = self.sensor(channel)?.millicelsius().await?;
        Ok(rigor_hal::Reading::Number(f64::from(milli) / 1000.0))
    }

    async fn write(
        &self,
        channel: &str,
        value: rigor_hal::Reading,
    ) -> Result<(), rigor_hal::HalError> {
        let rigor_hal::Reading::Number(celsius) = value else {
            return Err(rigor_hal::HalError::Misconfigured {
                what: format!("the emulated environment's channel `{channel}`"),
                reason: "it takes a temperature in °C, not a switch".to_owned(),
            });
        };
        let milli = (celsius * 1000.0).round() as i32;
        Ok(self.sensor(channel)?.set_millicelsius(milli).await?)
    }
}
