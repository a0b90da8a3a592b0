//! Modbus instruments and digital lines over tokio-modbus: a register map from the rig's
//! instrument model turns channel names into requests, raw words into scaled values in the
//! channel's unit, and back.
//!
//! Errors keep tokio-modbus's three kinds apart: a transport error or a timeout is the rig's
//! (and drops the connection, so the next request reconnects: a supply's Ethernet bridge that
//! rebooted is found again); an exception response is typed with its code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rigor_hal::error::modbus_exception_name;
use rigor_hal::{DigitalLine, HalError, Instrument, Reading, Transition, async_trait};
use rigor_model::instrument::{Channel, DataType, InstrumentModel, Table, WordOrder};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::{ExceptionCode, Slave};

/// How long one request may take before the instrument counts as not answering.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a Modbus instrument is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Modbus TCP.
    Tcp {
        /// Address.
        address: SocketAddr,
        /// Unit id.
        unit: u8,
    },
}

/// An instrument behind Modbus, described by its register map.
pub struct ModbusInstrument {
    name: String,
    model: Arc<InstrumentModel>,
    endpoint: Endpoint,
    context: Mutex<Option<Context>>,
    timeout: Duration,
}

impl ModbusInstrument {
    /// An instrument at `endpoint`; it connects on the first request.
    pub fn new(name: impl Into<String>, model: Arc<InstrumentModel>, endpoint: Endpoint) -> Self {
        Self {
            name: name.into(),
            model,
            endpoint,
            context: Mutex::new(None),
            timeout: REQUEST_TIMEOUT,
        }
    }

    fn describe(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp { address, unit } => format!(
                "{} ({} at {address}, unit {unit})",
                self.name, self.model.instrument_model
            ),
        }
    }

    fn channel(&self, name: &str) -> Result<&Channel, HalError> {
        self.model
            .channels
            .get(name)
            .ok_or_else(|| HalError::Unsupported {
                what: format!("channel `{name}`"),
                backend: format!("instrument model `{}`", self.model.instrument_model),
            })
    }

    async fn connect(&self) -> Result<Context, HalError> {
        match &self.endpoint {
            Endpoint::Tcp { address, unit } => {
                let connect = tokio_modbus::client::tcp::connect_slave(*address, Slave(*unit));
                match tokio::time::timeout(self.timeout, connect).await {
                    Ok(Ok(ctx)) => Ok(ctx),
                    Ok(Err(e)) => Err(HalError::Disconnected {
                        what: self.describe(),
                        source: Some(e),
                    }),
                    Err(_) => Err(HalError::Timeout {
                        what: format!("connecting to {}", self.describe()),
                        after: self.timeout,
                    }),
                }
            }
        }
    }

    /// Runs one request on the connection, connecting first if needed; drops the connection on
    /// a transport error or timeout.
    async fn request<T, F>(&self, what: &str, f: F) -> Result<T, HalError>
    where
        F: for<'c> FnOnce(
            &'c mut Context,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = tokio_modbus::Result<T>> + Send + 'c>,
        >,
    {
        let mut guard = self.context.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect().await?);
        }
        let Some(ctx) = guard.as_mut() else {
            return Err(HalError::Disconnected {
                what: self.describe(),
                source: None,
            });
        };
        let result = tokio::time::timeout(self.timeout, f(ctx)).await;
        match result {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(code))) => Err(exception(format!("{}, {what}", self.describe()), code)),
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                *guard = None;
                Err(HalError::Disconnected {
                    what: self.describe(),
                    source: Some(e),
                })
            }
            Ok(Err(tokio_modbus::Error::Protocol(e))) => {
                *guard = None;
                Err(HalError::Io {
                    what: format!("{}, {what}", self.describe()),
                    source: std::io::Error::other(e),
                })
            }
            Err(_) => {
                *guard = None;
                Err(HalError::Timeout {
                    what: format!("{}, {what}", self.describe()),
                    after: self.timeout,
                })
            }
        }
    }
}

fn exception(what: String, code: ExceptionCode) -> HalError {
    let code = u8::from(code);
    HalError::Exception {
        what,
        code,
        name: modbus_exception_name(code),
    }
}

fn words(t: DataType) -> u16 {
    match t {
        DataType::Bool | DataType::U16 | DataType::I16 => 1,
        DataType::U32 | DataType::I32 | DataType::F32 => 2,
    }
}

/// Raw registers → value, per the channel's type, scale and offset.
pub fn decode(ch: &Channel, order: WordOrder, regs: &[u16]) -> Reading {
    let pair = || {
        let (hi, lo) = match order {
            WordOrder::HighFirst => (
                regs.first().copied().unwrap_or(0),
                regs.get(1).copied().unwrap_or(0),
            ),
            WordOrder::LowFirst => (
                regs.get(1).copied().unwrap_or(0),
                regs.first().copied().unwrap_or(0),
            ),
        };
        (u32::from(hi) << 16) | u32::from(lo)
    };
    let first = regs.first().copied().unwrap_or(0);
    let raw = match ch.data_type {
        DataType::Bool => return Reading::Bool(first != 0),
        DataType::U16 => f64::from(first),
        DataType::I16 => f64::from(first as i16),
        DataType::U32 => f64::from(pair()),
        DataType::I32 => f64::from(pair() as i32),
        DataType::F32 => f64::from(f32::from_bits(pair())),
    };
    Reading::Number(scaled(raw, ch.scale) + ch.offset)
}

/// `raw × scale`, correctly rounded for the decimal scales instruments publish (0.01 V, 0.001 A):
/// 72 counts of 1 mA read 0.072 A, not 0.07200000000000001.
fn scaled(raw: f64, scale: f64) -> f64 {
    let per_unit = 1.0 / scale;
    if per_unit.abs() >= 1.0 && (per_unit - per_unit.round()).abs() < 1e-9 {
        raw / per_unit.round()
    } else {
        raw * scale
    }
}

/// Value → raw registers, or why it does not fit.
pub fn encode(ch: &Channel, order: WordOrder, value: Reading) -> Result<Vec<u16>, String> {
    let n = match (ch.data_type, value) {
        (DataType::Bool, Reading::Bool(b)) => return Ok(vec![u16::from(b)]),
        (DataType::Bool, Reading::Number(n)) => return Ok(vec![u16::from(n != 0.0)]),
        (_, Reading::Bool(b)) => f64::from(u8::from(b)),
        (_, Reading::Number(n)) => n,
    };
    let raw = (n - ch.offset) / ch.scale;
    let split = |v: u32| {
        let (hi, lo) = ((v >> 16) as u16, v as u16);
        match order {
            WordOrder::HighFirst => vec![hi, lo],
            WordOrder::LowFirst => vec![lo, hi],
        }
    };
    let out_of_range = || format!("{n} does not fit the channel's {:?} register", ch.data_type);
    let r = raw.round();
    match ch.data_type {
        DataType::U16 if (0.0..=f64::from(u16::MAX)).contains(&r) => Ok(vec![r as u16]),
        DataType::I16 if (f64::from(i16::MIN)..=f64::from(i16::MAX)).contains(&r) => {
            Ok(vec![r as i16 as u16])
        }
        DataType::U32 if (0.0..=f64::from(u32::MAX)).contains(&r) => Ok(split(r as u32)),
        DataType::I32 if (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&r) => {
            Ok(split(r as i32 as u32))
        }
        DataType::F32 => Ok(split((raw as f32).to_bits())),
        _ => Err(out_of_range()),
    }
}

#[async_trait]
impl Instrument for ModbusInstrument {
    async fn read(&self, channel: &str) -> Result<Reading, HalError> {
        let ch = self.channel(channel)?.clone();
        let what = format!("reading `{channel}`");
        let addr = ch.address;
        match ch.table {
            Table::Coil => self
                .request(&what, |c| Box::pin(c.read_coils(addr, 1)))
                .await
                .map(|v| Reading::Bool(v.first().copied().unwrap_or(false))),
            Table::Discrete => self
                .request(&what, |c| Box::pin(c.read_discrete_inputs(addr, 1)))
                .await
                .map(|v| Reading::Bool(v.first().copied().unwrap_or(false))),
            Table::Holding => {
                let n = words(ch.data_type);
                let regs = self
                    .request(&what, |c| Box::pin(c.read_holding_registers(addr, n)))
                    .await?;
                Ok(decode(&ch, self.model.word_order, &regs))
            }
            Table::Input => {
                let n = words(ch.data_type);
                let regs = self
                    .request(&what, |c| Box::pin(c.read_input_registers(addr, n)))
                    .await?;
                Ok(decode(&ch, self.model.word_order, &regs))
            }
        }
    }

    async fn write(&self, channel: &str, value: Reading) -> Result<(), HalError> {
        let ch = self.channel(channel)?.clone();
        let what = format!("writing `{channel}`");
        let addr = ch.address;
        match ch.table {
            Table::Coil => {
                let on = match value {
                    Reading::Bool(b) => b,
                    Reading::Number(n) => n != 0.0,
                };
                self.request(&what, |c| Box::pin(c.write_single_coil(addr, on)))
                    .await
            }
            Table::Holding => {
                let regs = encode(&ch, self.model.word_order, value).map_err(|reason| {
                    HalError::Refused {
                        what: format!("{}, {what}", self.describe()),
                        reason,
                    }
                })?;
                if let [one] = regs.as_slice() {
                    let one = *one;
                    self.request(&what, |c| Box::pin(c.write_single_register(addr, one)))
                        .await
                } else {
                    self.request(&what, move |c| {
                        Box::pin(async move { c.write_multiple_registers(addr, &regs).await })
                    })
                    .await
                }
            }
            Table::Input | Table::Discrete => Err(HalError::Unsupported {
                what,
                backend: "a read-only Modbus table".into(),
            }),
        }
    }
}

/// A digital line that is a boolean channel of a Modbus instrument (an I/O module, a relay, a PLC bit).
pub struct ModbusLine {
    instrument: Arc<dyn Instrument>,
    /// Channel written to drive the line.
    drive: String,
    /// Channel read to see the line (the same, or a discrete input wired back).
    sense: String,
    /// How often `watch` samples.
    poll: Duration,
}

impl ModbusLine {
    /// A line driven through `drive` and read through `sense`.
    pub fn new(
        instrument: Arc<dyn Instrument>,
        drive: impl Into<String>,
        sense: impl Into<String>,
    ) -> Self {
        Self {
            instrument,
            drive: drive.into(),
            sense: sense.into(),
            poll: Duration::from_millis(10),
        }
    }
}

#[async_trait]
impl DigitalLine for ModbusLine {
    async fn set(&self, high: bool) -> Result<(), HalError> {
        self.instrument
            .write(&self.drive, Reading::Bool(high))
            .await
    }

    async fn get(&self) -> Result<bool, HalError> {
        Ok(match self.instrument.read(&self.sense).await? {
            Reading::Bool(b) => b,
            Reading::Number(n) => n != 0.0,
        })
    }

    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
        // Modbus has no edge notification: sample. At 10 ms a 1 Hz blink is timed to 1 %.
        let start = Instant::now();
        let first = self.get().await?;
        let mut last = first;
        let mut out = Vec::new();
        while start.elapsed() < window {
            tokio::time::sleep(self.poll).await;
            let now = self.get().await?;
            if now != last {
                out.push(Transition {
                    at: start.elapsed(),
                    high: now,
                });
                last = now;
            }
        }
        Ok((first, out))
    }
}
