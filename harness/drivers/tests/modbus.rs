//! The Modbus backend against a Modbus TCP server on loopback serving the shipped Riden RD6006
//! register map.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rigor_drivers::modbus::{Endpoint, ModbusInstrument, ModbusLine};
use rigor_hal::{DigitalLine, HalError, Instrument, Reading};
use rigor_model::instrument::InstrumentModel;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response};

/// A register bank: holding registers 0..32 and coils 0..8 exist; anything else is an illegal address.
#[derive(Clone, Default)]
struct Bank(Arc<Mutex<Registers>>);

/// Holding registers and coils by address.
type Registers = (HashMap<u16, u16>, HashMap<u16, bool>);

impl tokio_modbus::server::Service for Bank {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        let mut bank = self.0.lock().unwrap();
        let regs = |a: u16, n: u16| (a..a + n).all(|r| r < 32);
        std::future::ready(match req {
            Request::ReadHoldingRegisters(a, n) if regs(a, n) => {
                Ok(Response::ReadHoldingRegisters(
                    (a..a + n)
                        .map(|r| bank.0.get(&r).copied().unwrap_or(0))
                        .collect(),
                ))
            }
            Request::WriteSingleRegister(a, v) if regs(a, 1) => {
                bank.0.insert(a, v);
                Ok(Response::WriteSingleRegister(a, v))
            }
            Request::WriteMultipleRegisters(a, vs) if regs(a, vs.len() as u16) => {
                for (i, v) in vs.iter().enumerate() {
                    bank.0.insert(a + i as u16, *v);
                }
                Ok(Response::WriteMultipleRegisters(a, vs.len() as u16))
            }
            Request::ReadCoils(a, n) if a + n <= 8 => Ok(Response::ReadCoils(
                (a..a + n)
                    .map(|c| bank.1.get(&c).copied().unwrap_or(false))
                    .collect(),
            )),
            Request::WriteSingleCoil(a, v) if a < 8 => {
                bank.1.insert(a, v);
                Ok(Response::WriteSingleCoil(a, v))
            }
            _ => Err(ExceptionCode::IllegalDataAddress),
        })
    }
}

async fn serve(bank: Bank) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    serve_at("127.0.0.1:0".parse().unwrap(), bank).await
}

fn riden() -> Arc<InstrumentModel> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/instruments/riden-rd6006.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    Arc::new(
        rigor_model::source::parse::<InstrumentModel>(&path, &text)
            .unwrap()
            .value,
    )
}

#[tokio::test]
async fn scaled_reads_and_writes_follow_the_register_map() {
    let bank = Bank::default();
    let (addr, _server) = serve(bank.clone()).await;
    {
        let mut b = bank.0.lock().unwrap();
        b.0.insert(11, 72); // I-OUT, 1 mA per count
        b.0.insert(12, 0x0001); // P-OUT high word
        b.0.insert(13, 0x0010); // P-OUT low word: 65552 counts of 10 mW
    }
    let psu = ModbusInstrument::new(
        "psu-1",
        riden(),
        Endpoint::Tcp {
            address: addr,
            unit: 1,
        },
    );
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.072));
    assert_eq!(psu.read("power").await.unwrap(), Reading::Number(655.52));
    psu.write("voltage_set", Reading::Number(12.0))
        .await
        .unwrap();
    psu.write("output", Reading::Bool(true)).await.unwrap();
    let b = bank.0.lock().unwrap();
    assert_eq!(b.0.get(&8), Some(&1200), "12.00 V is 1200 counts of 10 mV");
    assert_eq!(b.0.get(&18), Some(&1));
}

#[tokio::test]
async fn an_exception_surfaces_with_its_code_and_the_rig_is_blamed() {
    let bank = Bank::default();
    let (addr, _server) = serve(bank).await;
    let mut model = (*riden()).clone();
    model.channels.get_mut("current").unwrap().address = 40;
    let psu = ModbusInstrument::new(
        "psu-1",
        Arc::new(model),
        Endpoint::Tcp {
            address: addr,
            unit: 1,
        },
    );
    let err = psu.read("current").await.unwrap_err();
    assert!(
        matches!(err, HalError::Exception { code: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "psu-1 (riden-rd6006 at {addr}, unit 1), reading `current` answered with Modbus exception 2 (illegal data address)"
        )
    );
    assert_eq!(err.blame(), rigor_hal::Blame::Rig);
}

#[tokio::test]
async fn a_supply_that_went_away_is_a_rig_error_and_is_found_again() {
    let bank = Bank::default();
    let (addr, server) = serve(bank.clone()).await;
    let psu = ModbusInstrument::new(
        "psu-1",
        riden(),
        Endpoint::Tcp {
            address: addr,
            unit: 1,
        },
    );
    psu.read("current").await.unwrap();
    server.abort();
    let _ = server.await;
    // The connection task of the aborted server may still answer once; ask until it is gone.
    let mut err = None;
    for _ in 0..10 {
        if let Err(e) = psu.read("current").await {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("the supply should have gone away");
    assert_eq!(err.blame(), rigor_hal::Blame::Rig, "{err}");
    // The supply comes back on the same address: the next request reconnects.
    let (again, _server) = serve_at(addr, bank).await;
    assert_eq!(again, addr);
    assert_eq!(psu.read("output").await.unwrap(), Reading::Bool(false));
}

async fn serve_at(addr: SocketAddr, bank: Bank) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(listener);
    let task = tokio::spawn(async move {
        let on_connected = move |stream, socket_addr| {
            let bank = bank.clone();
            async move { accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(bank.clone()))) }
        };
        let _ = server.serve(&on_connected, |_| {}).await;
    });
    (addr, task)
}

#[tokio::test]
async fn a_relay_coil_is_a_digital_line() {
    let bank = Bank::default();
    let (addr, _server) = serve(bank.clone()).await;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/instruments/waveshare-relay-8.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let model = Arc::new(
        rigor_model::source::parse::<InstrumentModel>(&path, &text)
            .unwrap()
            .value,
    );
    let relays: Arc<dyn Instrument> = Arc::new(ModbusInstrument::new(
        "relays-a",
        model,
        Endpoint::Tcp {
            address: addr,
            unit: 3,
        },
    ));
    let line = ModbusLine::new(relays, "relay3", "relay3");
    line.set(true).await.unwrap();
    assert!(line.get().await.unwrap());
    assert_eq!(bank.0.lock().unwrap().1.get(&2), Some(&true));
}

/// A supply with a bug: it answers a read with one register fewer than asked, and echoes a
/// write with another value than it was sent.
#[derive(Clone)]
struct Miscounts;

impl tokio_modbus::server::Service for Miscounts {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        std::future::ready(match req {
            Request::ReadHoldingRegisters(_, n) => {
                Ok(Response::ReadHoldingRegisters(vec![7; usize::from(n) - 1]))
            }
            Request::WriteSingleRegister(a, v) => Ok(Response::WriteSingleRegister(a, v + 1)),
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// Regression (found by the `modbus_rtu` fuzz target): tokio-modbus only debug-asserts an
/// answer's length and a write's echo, so a short answer panicked a debug build and read as
/// zeros in a release one, and a wrong echo passed. Both are the rig's errors now.
#[tokio::test]
async fn a_short_answer_or_a_wrong_echo_is_a_rig_error_not_a_zero() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let on_connected = |stream, socket_addr| async move {
            accept_tcp_connection(stream, socket_addr, |_| Ok(Some(Miscounts)))
        };
        let _ = Server::new(listener).serve(&on_connected, |_| {}).await;
    });
    let psu = ModbusInstrument::new(
        "psu-1",
        riden(),
        Endpoint::Tcp {
            address: addr,
            unit: 1,
        },
    );
    let chain = |e: &HalError| format!("{e}: {}", std::error::Error::source(e).unwrap());
    let err = psu.read("power").await.unwrap_err();
    assert_eq!(
        chain(&err),
        format!(
            "psu-1 (riden-rd6006 at {addr}, unit 1), reading `power`: i/o error: the instrument \
             answered 1 of the 2 registers asked"
        )
    );
    assert_eq!(err.blame(), rigor_hal::Blame::Rig);
    let err = psu
        .write("voltage_set", Reading::Number(12.0))
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("the instrument echoed WriteSingleRegister(8, 1201) to the write WriteSingleRegister(8, 1200)"),
        "{}",
        chain(&err)
    );
}
