//! The Modbus backend over RTU: a tokio-modbus RTU server on one end of a pseudo-terminal pair
//! stands for an RS-485 line with several instruments on it, told apart by unit id.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigor_drivers::modbus::{Endpoint, ModbusInstrument, ModbusLine, RtuBus, RtuSettings};
use rigor_hal::{Blame, DigitalLine, HalError, Instrument, Reading};
use rigor_model::instrument::InstrumentModel;
use tokio::time::Instant;
use tokio_modbus::server::rtu::Server;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_serial::{SerialPort, SerialStream};

/// One instrument's registers: holding registers 0..32 and coils 0..8 exist.
#[derive(Default)]
struct Bank {
    holding: HashMap<u16, u16>,
    coils: HashMap<u16, bool>,
}

/// The instruments on the line, by unit id; a request to any other unit goes unanswered, as on a
/// real bus. Every request's arrival is logged.
#[derive(Clone, Default)]
struct Line {
    units: Arc<Mutex<HashMap<u8, Bank>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    /// A holding register whose reads are answered only after a while, like a slow instrument's.
    slow: Arc<Mutex<Option<(u16, Duration)>>>,
    /// A holding register whose reads are answered only once the test says so: an answer known
    /// to come after the request timed out, whatever the machine's load.
    held: Arc<Mutex<Option<u16>>>,
    release: Arc<tokio::sync::Notify>,
}

impl Line {
    fn with_units(units: &[u8]) -> Self {
        let line = Line::default();
        for u in units {
            line.units.lock().unwrap().insert(*u, Bank::default());
        }
        line
    }

    fn holding(&self, unit: u8, address: u16) -> Option<u16> {
        self.units.lock().unwrap()[&unit]
            .holding
            .get(&address)
            .copied()
    }

    fn set_holding(&self, unit: u8, address: u16, value: u16) {
        self.units
            .lock()
            .unwrap()
            .get_mut(&unit)
            .unwrap()
            .holding
            .insert(address, value);
    }
}

impl tokio_modbus::server::Service for Line {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<Response>, ExceptionCode>> + Send>,
    >;

    fn call(&self, req: SlaveRequest<'static>) -> Self::Future {
        self.arrivals.lock().unwrap().push(Instant::now());
        let delay = match (*self.slow.lock().unwrap(), &req.request) {
            (Some((slow, delay)), Request::ReadHoldingRegisters(a, _)) if *a == slow => delay,
            _ => Duration::ZERO,
        };
        let held = matches!(
            (*self.held.lock().unwrap(), &req.request),
            (Some(h), Request::ReadHoldingRegisters(a, _)) if *a == h
        );
        let release = self.release.clone();
        let answer = self.answer(req);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if held {
                release.notified().await;
            }
            answer
        })
    }
}

impl Line {
    fn answer(&self, req: SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        let mut units = self.units.lock().unwrap();
        let Some(bank) = units.get_mut(&req.slave) else {
            return Ok(None);
        };
        let regs = |a: u16, n: u16| (a..a + n).all(|r| r < 32);
        match req.request {
            Request::ReadHoldingRegisters(a, n) if regs(a, n) => {
                Ok(Some(Response::ReadHoldingRegisters(
                    (a..a + n)
                        .map(|r| bank.holding.get(&r).copied().unwrap_or(0))
                        .collect(),
                )))
            }
            Request::WriteSingleRegister(a, v) if regs(a, 1) => {
                bank.holding.insert(a, v);
                Ok(Some(Response::WriteSingleRegister(a, v)))
            }
            Request::WriteMultipleRegisters(a, vs) if regs(a, vs.len() as u16) => {
                for (i, v) in vs.iter().enumerate() {
                    bank.holding.insert(a + i as u16, *v);
                }
                Ok(Some(Response::WriteMultipleRegisters(a, vs.len() as u16)))
            }
            Request::ReadCoils(a, n) if a + n <= 8 => Ok(Some(Response::ReadCoils(
                (a..a + n)
                    .map(|c| bank.coils.get(&c).copied().unwrap_or(false))
                    .collect(),
            ))),
            Request::WriteSingleCoil(a, v) if a < 8 => {
                bank.coils.insert(a, v);
                Ok(Some(Response::WriteSingleCoil(a, v)))
            }
            _ => Err(ExceptionCode::IllegalDataAddress),
        }
    }
}

/// A pty pair with the server on the master side; the path is the slave side, for the driver to
/// open.
struct Pty {
    path: PathBuf,
    /// Keeps the slave side open while the driver closes and reopens it, so the master never sees
    /// the line hang up. A plain file: it takes no lock, so the driver can open the port
    /// exclusively.
    _held: std::fs::File,
    _server: tokio::task::JoinHandle<()>,
}

fn serve(line: Line) -> Pty {
    let (master, mut slave) = SerialStream::pair().unwrap();
    let path = PathBuf::from(slave.name().expect("a pty slave has a name"));
    // Let go of the pair's own exclusive claim on the slave before holding it by a plain file.
    slave.set_exclusive(false).unwrap();
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    drop(slave);
    let server = tokio::spawn(async move {
        let _ = Server::new(master).serve_forever(line).await;
    });
    Pty {
        path,
        _held: held,
        _server: server,
    }
}

fn model(file: &str) -> Arc<InstrumentModel> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rigs/instruments")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    Arc::new(
        rigor_model::source::parse::<InstrumentModel>(&path, &text)
            .unwrap()
            .value,
    )
}

#[tokio::test]
async fn scaled_reads_and_writes_follow_the_register_map_over_rtu() {
    let line = Line::with_units(&[1]);
    let pty = serve(line.clone());
    line.set_holding(1, 11, 72); // I-OUT, 1 mA per count
    line.set_holding(1, 12, 0x0001); // P-OUT high word
    line.set_holding(1, 13, 0x0010); // P-OUT low word: 65552 counts of 10 mW
    let bus = RtuBus::new(RtuSettings::new(&pty.path, 115_200));
    let psu = ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu { bus, unit: 1 },
    );
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.072));
    assert_eq!(psu.read("power").await.unwrap(), Reading::Number(655.52));
    psu.write("voltage_set", Reading::Number(12.0))
        .await
        .unwrap();
    psu.write("output", Reading::Bool(true)).await.unwrap();
    assert_eq!(
        line.holding(1, 8),
        Some(1200),
        "12.00 V is 1200 counts of 10 mV"
    );
    assert_eq!(line.holding(1, 18), Some(1));
    assert_eq!(
        psu.read("voltage_set").await.unwrap(),
        Reading::Number(12.0)
    );
}

#[tokio::test]
async fn an_exception_over_rtu_carries_its_code_and_blames_the_rig() {
    let pty = serve(Line::with_units(&[1]));
    let mut riden = (*model("riden-rd6006.yaml")).clone();
    riden.channels.get_mut("current").unwrap().address = 40;
    let bus = RtuBus::new(RtuSettings::new(&pty.path, 9600));
    let psu = ModbusInstrument::new("psu-1", Arc::new(riden), Endpoint::Rtu { bus, unit: 1 });
    let err = psu.read("current").await.unwrap_err();
    assert!(
        matches!(err, HalError::Exception { code: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "psu-1 (riden-rd6006 on {} at 9600 8N1, unit 1), reading `current` answered with \
             Modbus exception 2 (illegal data address)",
            pty.path.display()
        )
    );
    assert_eq!(err.blame(), Blame::Rig);
    // An exception is an answer: the line is fine and the next request goes through.
    assert_eq!(psu.read("output").await.unwrap(), Reading::Bool(false));
}

#[tokio::test]
async fn instruments_with_different_unit_ids_share_one_line() {
    let line = Line::with_units(&[1, 3]);
    let pty = serve(line.clone());
    line.set_holding(1, 10, 500); // V-OUT 5.00 V on the supply
    let bus = RtuBus::new(RtuSettings::new(&pty.path, 115_200));
    let psu = Arc::new(ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu {
            bus: bus.clone(),
            unit: 1,
        },
    ));
    let relays: Arc<dyn Instrument> = Arc::new(ModbusInstrument::new(
        "relays-a",
        model("waveshare-relay-8.yaml"),
        Endpoint::Rtu { bus, unit: 3 },
    ));
    let relay3 = ModbusLine::new(relays, "relay3", "relay3");
    // Both at once, many times: the bus serializes them and each answer reaches its asker.
    let supply = {
        let psu = psu.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                assert_eq!(psu.read("voltage").await.unwrap(), Reading::Number(5.0));
            }
        })
    };
    for i in 0..20 {
        relay3.set(i % 2 == 0).await.unwrap();
        assert_eq!(relay3.get().await.unwrap(), i % 2 == 0);
    }
    supply.await.unwrap();
    let units = line.units.lock().unwrap();
    assert_eq!(units[&3].coils.get(&2), Some(&false), "relay3 is coil 2");
    assert!(units[&1].coils.is_empty(), "the supply got no relay writes");
}

#[tokio::test]
async fn a_unit_that_does_not_answer_times_out_and_the_line_recovers() {
    let line = Line::with_units(&[1]);
    let pty = serve(line.clone());
    line.set_holding(1, 11, 5);
    let bus = RtuBus::new(RtuSettings::new(&pty.path, 115_200));
    let absent = ModbusInstrument::new(
        "psu-9",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu {
            bus: bus.clone(),
            unit: 9,
        },
    )
    .with_timeout(Duration::from_millis(200));
    let psu = ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu { bus, unit: 1 },
    );
    let err = absent.read("current").await.unwrap_err();
    assert!(matches!(err, HalError::Timeout { .. }), "{err:?}");
    assert_eq!(err.blame(), Blame::Rig);
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.005));
}

/// Regression: RTU answers carry no transaction id, so a slow instrument's late answer to a request
/// that timed out was taken for the next request's answer, a wrong reading with no error.
#[tokio::test]
async fn a_late_answer_is_not_taken_for_the_next_requests() {
    let line = Line::with_units(&[1]);
    let pty = serve(line.clone());
    line.set_holding(1, 11, 72); // I-OUT: 0.072 A
    line.set_holding(1, 10, 1234); // V-OUT: 12.34 V, answered late
    *line.held.lock().unwrap() = Some(10);
    let bus = RtuBus::new(RtuSettings::new(&pty.path, 115_200));
    let psu = ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu { bus, unit: 1 },
    )
    .with_timeout(Duration::from_millis(300));
    let err = psu.read("voltage").await.unwrap_err();
    assert!(matches!(err, HalError::Timeout { .. }), "{err:?}");
    // The late answer goes out now, after the timeout, while the next request drains the line.
    line.release.notify_one();
    // Same unit, same function, same count as the late answer: only draining tells them apart.
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.072));
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.072));
}

#[tokio::test]
async fn a_request_given_up_midway_leaves_no_answer_for_the_next() {
    let line = Line::with_units(&[1]);
    let pty = serve(line.clone());
    line.set_holding(1, 11, 72); // I-OUT: 0.072 A
    line.set_holding(1, 10, 1234); // V-OUT: 12.34 V, answered late
    *line.slow.lock().unwrap() = Some((10, Duration::from_millis(150)));
    let bus = RtuBus::new(RtuSettings::new(&pty.path, 115_200));
    let psu = ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu { bus, unit: 1 },
    )
    .with_timeout(Duration::from_millis(300));
    // The caller gives up (a step's deadline) before the instrument's own timeout.
    let given_up = tokio::time::timeout(Duration::from_millis(50), psu.read("voltage")).await;
    assert!(given_up.is_err(), "{given_up:?}");
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.072));
}

#[tokio::test]
async fn frames_are_kept_apart_by_the_inter_frame_gap() {
    let line = Line::with_units(&[1]);
    let pty = serve(line.clone());
    let gap = Duration::from_millis(30);
    let bus = RtuBus::new(RtuSettings {
        frame_gap: Some(gap),
        ..RtuSettings::new(&pty.path, 115_200)
    });
    let psu = ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu { bus, unit: 1 },
    );
    for _ in 0..5 {
        psu.read("current").await.unwrap();
    }
    // Each request leaves at least `gap` after the previous answer arrived, so at least `gap`
    // after the previous request did.
    let arrivals = line.arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 5);
    for pair in arrivals.windows(2) {
        assert!(pair[1] - pair[0] >= gap, "{:?}", pair[1] - pair[0]);
    }
}

#[tokio::test]
async fn a_port_that_does_not_exist_is_a_rig_error() {
    let dir = tempfile::tempdir().unwrap();
    let bus = RtuBus::new(RtuSettings::new(dir.path().join("ttyUSB9"), 9600));
    let psu = ModbusInstrument::new(
        "psu-1",
        model("riden-rd6006.yaml"),
        Endpoint::Rtu { bus, unit: 1 },
    );
    let err = psu.read("current").await.unwrap_err();
    assert_eq!(err.blame(), Blame::Rig, "{err}");
    assert!(
        err.to_string().contains("ttyUSB9"),
        "the error names the port: {err}"
    );
}
