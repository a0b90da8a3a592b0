//! The unit's instruments as Modbus TCP servers on loopback (tokio-modbus's server), so rigor
//! reaches them through its real Modbus client: the supply by its model's register map, and a
//! digital I/O module whose coil i drives slot channel i and whose discrete input i reads it.
//! Each answers only its own unit id, as the real instruments do on a line they share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rigor_model::instrument::{DataType, InstrumentModel, Table};
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use crate::unit::State;

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The largest block one read may ask for (the Modbus application protocol's limit for FC3).
const MAX_READ: u16 = 125;

/// How the bench's instruments are wired, which decides who answers a request for another unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wiring {
    /// Behind a Modbus TCP gateway (the RD6006's Wi-Fi/Ethernet bridge, a Moxa-style serial
    /// gateway): a unit id nobody on its serial side answers gets exception 0x0B "gateway target
    /// device failed to respond", as the Modbus TCP implementation guide has gateways do.
    Tcp,
    /// On an RS-485 line: a frame for another unit id is another device's business, so silence;
    /// unit 0 is a broadcast, which a device executes without answering.
    Rtu,
}

/// `service` as the device with unit id `unit` on a line wired as `wiring`.
#[derive(Clone)]
struct Addressed<S> {
    unit: u8,
    wiring: Wiring,
    inner: S,
}

type Answer = std::future::Ready<Result<Response, ExceptionCode>>;

impl<S> tokio_modbus::server::Service for Addressed<S>
where
    S: tokio_modbus::server::Service<
            Request = Request<'static>,
            Response = Response,
            Exception = ExceptionCode,
            Future = Answer,
        >,
{
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let answer = |req| self.inner.call(req).into_inner();
        std::future::ready(match (req.slave, self.wiring) {
            (unit, _) if unit == self.unit => answer(req.request).map(Some),
            // 0xFF addresses the device reached over TCP itself (the Modbus TCP implementation
            // guide's choice for a direct connection; tokio-modbus's default).
            (0xFF, Wiring::Tcp) => answer(req.request).map(Some),
            (0, Wiring::Rtu) if is_write(&req.request) => {
                // A broadcast write is carried out and never answered, even when refused.
                let _ = answer(req.request);
                Ok(None)
            }
            (_, Wiring::Rtu) => Ok(None),
            (_, Wiring::Tcp) => Err(ExceptionCode::GatewayTargetDevice),
        })
    }
}

fn is_write(req: &Request<'_>) -> bool {
    matches!(
        req,
        Request::WriteSingleCoil(..)
            | Request::WriteMultipleCoils(..)
            | Request::WriteSingleRegister(..)
            | Request::WriteMultipleRegisters(..)
    )
}

/// Serves `service` as unit `unit` on 127.0.0.1 with an OS-assigned port; returns the address.
pub async fn serve<S>(
    service: S,
    unit: u8,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)>
where
    S: tokio_modbus::server::Service<
            Request = Request<'static>,
            Response = Response,
            Exception = ExceptionCode,
            Future = Answer,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    let service = Addressed {
        unit,
        wiring: Wiring::Tcp,
        inner: service,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let server = Server::new(listener);
        let on_connected = move |stream, socket_addr| {
            let service = service.clone();
            async move { accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(service.clone()))) }
        };
        let _ = server.serve(&on_connected, |_| {}).await;
    });
    Ok((addr, task))
}

/// One holding register of the map: its channel, which word of it, type, scale, writable.
type Register = (String, u16, DataType, f64, bool);

/// A programmable supply with the register map of its model (channel names as in the Riden map).
#[derive(Clone)]
pub struct Supply {
    unit: Arc<Mutex<State>>,
    /// Register address → (channel, word of a 32-bit pair, data type, scale).
    map: Arc<HashMap<u16, Register>>,
}

impl Supply {
    /// A supply for `unit` with `model`'s holding registers.
    pub fn new(unit: Arc<Mutex<State>>, model: &InstrumentModel) -> Supply {
        let mut map = HashMap::new();
        for (name, ch) in &model.channels {
            if ch.table != Table::Holding {
                continue;
            }
            let words = if matches!(ch.data_type, DataType::U32 | DataType::I32 | DataType::F32) {
                2
            } else {
                1
            };
            for w in 0..words {
                map.insert(
                    ch.address + w,
                    (name.clone(), w, ch.data_type, ch.scale, ch.writable),
                );
            }
        }
        Supply {
            unit,
            map: Arc::new(map),
        }
    }

    fn value(&self, channel: &str, s: &State) -> f64 {
        let now = Instant::now();
        match channel {
            "voltage_set" => s.volts_set,
            "current_set" => s.amps_limit,
            "voltage" if s.output => s.volts_set,
            "current" => s.current(now),
            "power" if s.output => s.volts_set * s.current(now),
            "input_voltage" => 24.0,
            "output" => f64::from(u8::from(s.output)),
            "model" => 60062.0,
            _ => 0.0,
        }
    }

    /// A block of holding registers. The RD6006 answers any block within its register space,
    /// with zeros where its map names nothing, so tools read it in one request (`0..20`).
    fn read(&self, addr: u16, n: u16) -> Result<Vec<u16>, ExceptionCode> {
        if n == 0 || n > MAX_READ {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if u32::from(addr) + u32::from(n) > 0x1_0000 {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let s = lock(&self.unit);
        Ok((0..n)
            .map(|i| addr + i)
            .map(|a| {
                let Some((name, word, t, scale, _)) = self.map.get(&a) else {
                    return 0;
                };
                let raw = (self.value(name, &s) / scale).round();
                match t {
                    DataType::U32 | DataType::I32 => {
                        let v = raw as u32;
                        if *word == 0 {
                            (v >> 16) as u16
                        } else {
                            v as u16
                        }
                    }
                    _ => raw as u16,
                }
            })
            .collect())
    }

    fn write(&self, addr: u16, word: u16) -> Result<(), ExceptionCode> {
        let (name, _, _, scale, writable) = self
            .map
            .get(&addr)
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        if !writable {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let mut s = lock(&self.unit);
        let v = f64::from(word) * scale;
        match name.as_str() {
            "voltage_set" => s.volts_set = v,
            "current_set" => s.amps_limit = v,
            "output" => s.output = word != 0,
            _ => return Err(ExceptionCode::IllegalDataAddress),
        }
        s.supply_changed();
        Ok(())
    }
}

impl tokio_modbus::server::Service for Supply {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        std::future::ready(match req {
            Request::ReadHoldingRegisters(a, n) => {
                self.read(a, n).map(Response::ReadHoldingRegisters)
            }
            Request::WriteSingleRegister(a, v) => self
                .write(a, v)
                .map(|()| Response::WriteSingleRegister(a, v)),
            Request::WriteMultipleRegisters(a, vs) => vs
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| self.write(a + i as u16, *v))
                .map(|()| Response::WriteMultipleRegisters(a, vs.len() as u16)),
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// The digital I/O module's unit id, the one rigor addresses it by.
pub const IO_UNIT: u8 = 1;

/// The slot's digital I/O module: coil i drives channel i, discrete input i reads its level.
#[derive(Clone)]
pub struct DigitalIo {
    unit: Arc<Mutex<State>>,
    channels: usize,
}

impl DigitalIo {
    /// A module with `channels` lines for `unit`.
    pub fn new(unit: Arc<Mutex<State>>, channels: usize) -> DigitalIo {
        DigitalIo { unit, channels }
    }

    /// Its register map, for rigor's Modbus client: `CHANNEL.drive` (coil) and `CHANNEL.level` (discrete input).
    pub fn model(channels: &[String]) -> InstrumentModel {
        let mut map = std::collections::BTreeMap::new();
        for (i, name) in channels.iter().enumerate() {
            let address = u16::try_from(i).unwrap_or(u16::MAX);
            let channel = |table, writable| rigor_model::instrument::Channel {
                table,
                address,
                data_type: DataType::Bool,
                scale: 1.0,
                offset: 0.0,
                unit: None,
                writable,
                description: None,
            };
            map.insert(format!("{name}.drive"), channel(Table::Coil, true));
            map.insert(format!("{name}.level"), channel(Table::Discrete, false));
        }
        InstrumentModel {
            instrument_model: "virtual-digital-io".into(),
            vendor: None,
            description: Some("the virtual bench's digital I/O module".into()),
            kind: rigor_model::instrument::InstrumentKind::IoModule,
            word_order: rigor_model::instrument::WordOrder::HighFirst,
            channels: map,
        }
    }
}

impl tokio_modbus::server::Service for DigitalIo {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        let in_range = |a: u16, n: u16| usize::from(a) + usize::from(n) <= self.channels;
        let mut s = lock(&self.unit);
        let now = Instant::now();
        std::future::ready(match req {
            Request::ReadDiscreteInputs(a, n) if in_range(a, n) => {
                Ok(Response::ReadDiscreteInputs(
                    (a..a + n).map(|c| s.level(usize::from(c), now)).collect(),
                ))
            }
            Request::ReadCoils(a, n) if in_range(a, n) => Ok(Response::ReadCoils(
                (a..a + n)
                    .map(|c| s.driven[usize::from(c)].unwrap_or(false))
                    .collect(),
            )),
            Request::WriteSingleCoil(a, v) if in_range(a, 1) => {
                s.driven[usize::from(a)] = Some(v);
                Ok(Response::WriteSingleCoil(a, v))
            }
            Request::WriteMultipleCoils(a, ref vs)
                if !vs.is_empty() && in_range(a, u16::try_from(vs.len()).unwrap_or(u16::MAX)) =>
            {
                for (c, v) in (usize::from(a)..).zip(vs.iter()) {
                    s.driven[c] = Some(*v);
                }
                Ok(Response::WriteMultipleCoils(a, vs.len() as u16))
            }
            Request::ReadDiscreteInputs(..)
            | Request::ReadCoils(..)
            | Request::WriteSingleCoil(..)
            | Request::WriteMultipleCoils(..) => Err(ExceptionCode::IllegalDataAddress),
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// A pseudo-terminal the rig's RTU driver opens by path, with `service` answering on the other
/// end, as an instrument on an RS-485 line behind a USB adapter.
pub struct RtuLine {
    /// The path the rig opens.
    pub path: std::path::PathBuf,
    // Held open so the pty survives between the runs that open and close the other end.
    _held: std::fs::File,
}

/// Serves `service` as unit `unit` over Modbus RTU on a new pty pair; returns the line and the
/// serving task.
pub fn serve_rtu<S>(service: S, unit: u8) -> std::io::Result<(RtuLine, tokio::task::JoinHandle<()>)>
where
    S: tokio_modbus::server::Service<
            Request = Request<'static>,
            Response = Response,
            Exception = ExceptionCode,
            Future = Answer,
        > + Send
        + Sync
        + 'static,
{
    use tokio_serial::SerialPort;
    let (master, mut slave) = tokio_serial::SerialStream::pair().map_err(std::io::Error::other)?;
    let path = std::path::PathBuf::from(
        slave
            .name()
            .ok_or_else(|| std::io::Error::other("a pseudo-terminal without a name"))?,
    );
    // The pair claims the slave exclusively; the rig's driver must be able to open it.
    slave.set_exclusive(false).map_err(std::io::Error::other)?;
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    drop(slave);
    let task = tokio::spawn(async move {
        let _ = tokio_modbus::server::rtu::Server::new(master)
            .serve_forever(Addressed {
                unit,
                wiring: Wiring::Rtu,
                inner: service,
            })
            .await;
    });
    Ok((RtuLine { path, _held: held }, task))
}
