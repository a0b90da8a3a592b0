//! A Modbus instrument: its register map from the rig's instrument model turns channel names into
//! requests, raw words into scaled values in the channel's unit, and back. Where the instrument is
//! ([`Endpoint`]) only decides which link carries the requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rigor_hal::{HalError, Instrument, Reading, async_trait};
use rigor_model::instrument::{Channel, InstrumentModel, Table};
use tokio_modbus::Request;
use tokio_modbus::client::{Client, Context};

use super::answer::{Answer, check};
use super::codec::{decode, encode, words};
use super::link::{Asker, Link, Reply, Transport};
#[cfg(feature = "modbus-rtu")]
use super::rtu::RtuBus;

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
    /// Modbus RTU on a serial line, shared with the other instruments on it.
    #[cfg(feature = "modbus-rtu")]
    Rtu {
        /// The line.
        bus: RtuBus,
        /// Unit (slave) id on the line.
        unit: u8,
    },
}

/// An instrument behind Modbus, described by its register map.
pub struct ModbusInstrument {
    name: String,
    model: Arc<InstrumentModel>,
    link: Arc<Link>,
    unit: u8,
    timeout: Duration,
    /// `psu-1 (riden-rd6006 at 127.0.0.1:502, unit 1)`, made once: every error names it.
    described: String,
}

impl ModbusInstrument {
    /// An instrument at `endpoint`; it connects on the first request.
    ///
    /// Over TCP each instrument has its own connection; over RTU it uses its bus's.
    pub fn new(name: impl Into<String>, model: Arc<InstrumentModel>, endpoint: Endpoint) -> Self {
        let (link, unit) = match endpoint {
            Endpoint::Tcp { address, unit } => (Arc::new(Link::new(Transport::Tcp(address))), unit),
            #[cfg(feature = "modbus-rtu")]
            Endpoint::Rtu { bus, unit } => (bus.link(), unit),
        };
        let name = name.into();
        let described = format!(
            "{name} ({} {}, unit {unit})",
            model.instrument_model,
            link.describe()
        );
        Self {
            name,
            model,
            link,
            unit,
            timeout: REQUEST_TIMEOUT,
            described,
        }
    }

    /// The same instrument with another per-request timeout (a slow meter at 9600 baud, or a
    /// test that wants a missing instrument found quickly).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The instrument's name.
    pub fn name(&self) -> &str {
        &self.name
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

    async fn request<T, F>(&self, what: &str, f: F) -> Result<T, HalError>
    where
        F: for<'c> FnOnce(&'c mut Context) -> Reply<'c, T>,
    {
        let asker = Asker {
            who: &self.described,
            unit: self.unit,
            timeout: self.timeout,
        };
        self.link.call(&asker, what, f).await
    }

    /// Sends `request` and checks the answer's shape against it (see [`super::answer`]).
    async fn ask(&self, what: &str, request: Request<'static>) -> Result<Answer, HalError> {
        let sent = request.clone();
        let response = self
            .request(what, move |c| {
                Box::pin(async move { c.call(request).await })
            })
            .await?;
        check(&sent, response).map_err(|reason| HalError::Io {
            what: format!("{}, {what}", self.described),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
        })
    }

    async fn read_bit(&self, what: &str, request: Request<'static>) -> Result<Reading, HalError> {
        match self.ask(what, request).await? {
            Answer::Bits(bits) => Ok(Reading::Bool(bits.first().copied().unwrap_or(false))),
            _ => Ok(Reading::Bool(false)), // `check` answers a read of bits with bits
        }
    }

    async fn read_words(
        &self,
        what: &str,
        request: Request<'static>,
    ) -> Result<Vec<u16>, HalError> {
        match self.ask(what, request).await? {
            Answer::Words(words) => Ok(words),
            _ => Ok(Vec::new()), // `check` answers a read of registers with registers
        }
    }
}

#[async_trait]
impl Instrument for ModbusInstrument {
    async fn read(&self, channel: &str) -> Result<Reading, HalError> {
        let ch = self.channel(channel)?.clone();
        let what = format!("reading `{channel}`");
        let addr = ch.address;
        let n = words(ch.data_type);
        match ch.table {
            Table::Coil => self.read_bit(&what, Request::ReadCoils(addr, 1)).await,
            Table::Discrete => {
                self.read_bit(&what, Request::ReadDiscreteInputs(addr, 1))
                    .await
            }
            Table::Holding => {
                let regs = self
                    .read_words(&what, Request::ReadHoldingRegisters(addr, n))
                    .await?;
                Ok(decode(&ch, self.model.word_order, &regs))
            }
            Table::Input => {
                let regs = self
                    .read_words(&what, Request::ReadInputRegisters(addr, n))
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
                self.ask(&what, Request::WriteSingleCoil(addr, on))
                    .await
                    .map(|_| ())
            }
            Table::Holding => {
                let regs = encode(&ch, self.model.word_order, value).map_err(|reason| {
                    HalError::Refused {
                        what: format!("{}, {what}", self.described),
                        reason,
                    }
                })?;
                let request = match regs.as_slice() {
                    [one] => Request::WriteSingleRegister(addr, *one),
                    _ => Request::WriteMultipleRegisters(addr, regs.into()),
                };
                self.ask(&what, request).await.map(|_| ())
            }
            Table::Input | Table::Discrete => Err(HalError::Unsupported {
                what,
                backend: "a read-only Modbus table".into(),
            }),
        }
    }
}
