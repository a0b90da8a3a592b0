//! Cross-check against a Modbus implementation rigor did not write: pymodbus serves three shipped
//! instrument maps (tests/peers/pymodbus_peer.py) over TCP, and over RTU on a pty pair from socat,
//! and the Modbus backend drives them. The peer's datastore is read and written directly through
//! its stdin, so a value is checked on the far side of the wire, not only by reading it back.
//!
//! Needs python3 with pymodbus (`pip install -r harness/drivers/tests/requirements-peers.txt`) and
//! socat (`apt-get install socat`); without them these tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rigor_drivers::modbus::{
    Endpoint, ModbusInstrument, ModbusLine, RtuBus, RtuSettings, StopBits,
};
use rigor_hal::{Blame, DigitalLine, HalError, Instrument, Reading};
use rigor_model::instrument::InstrumentModel;
use rigor_model::rig::Parity;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// How long a peer may take to start (a cold Python import of pymodbus on a busy CI machine).
const START: Duration = Duration::from_secs(30);
/// How long a peer may take to answer one command on stdin.
const ANSWER: Duration = Duration::from_secs(5);

const INSTALL: &str = "pip install -r harness/drivers/tests/requirements-peers.txt";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model(file: &str) -> Arc<InstrumentModel> {
    let path = manifest().join("../../rigs/instruments").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    Arc::new(
        rigor_model::source::parse::<InstrumentModel>(&path, &text)
            .unwrap()
            .value,
    )
}

/// The pymodbus server, and a line to its datastore on stdin and stdout.
struct Peer {
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// What it says on stderr, read all along so a chatty peer never blocks on a full pipe.
    stderr: tokio::task::JoinHandle<String>,
    child: Child,
}

impl Peer {
    /// Starts the peer and waits for its ready line; returns it and what follows `ready`.
    async fn start(args: &[&str]) -> (Peer, String) {
        let python = std::env::var("RIGOR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let script = manifest().join("tests/peers/pymodbus_peer.py");
        let mut child = match Command::new(&python)
            .arg(&script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run `{python}` ({e}): these tests need python3 with pymodbus; install \
                 python3, then `{INSTALL}` (or point RIGOR_PYTHON at an interpreter that has it)"
            ),
        };
        let mut peer = Peer {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
            stderr: tokio::spawn(read_all(child.stderr.take().unwrap())),
            child,
        };
        let line = tokio::time::timeout(START, peer.stdout.next_line()).await;
        match line {
            Ok(Ok(Some(line))) if line.starts_with("ready ") => {
                let rest = line["ready ".len()..].to_owned();
                (peer, rest)
            }
            Ok(_) => {
                let status = tokio::time::timeout(START, peer.child.wait())
                    .await
                    .expect("the peer closed stdout but did not exit")
                    .unwrap();
                let said = peer.said().await;
                if status.code() == Some(3) {
                    // The peer's own message says how to install it.
                    panic!("`{python}` cannot run the peer: {}", said.trim());
                }
                panic!("the pymodbus peer did not start ({status}): {said}");
            }
            Err(_) => panic!("the pymodbus peer was not ready within {START:?}"),
        }
    }

    /// What the peer said on stderr, once it exited.
    async fn said(self) -> String {
        self.stderr.await.unwrap_or_default()
    }

    /// Sends a command to the datastore and returns its answer.
    async fn ask(&mut self, command: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        tokio::time::timeout(ANSWER, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("the peer did not answer `{command}` within {ANSWER:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the peer exited on `{command}`"))
    }
}

async fn read_all(mut stderr: ChildStderr) -> String {
    let mut text = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
    text
}

/// A pty pair from socat: two paths joined like the two ends of a null-modem cable.
struct Socat {
    dir: tempfile::TempDir,
    _child: Child,
}

impl Socat {
    async fn start() -> Socat {
        let dir = tempfile::tempdir().unwrap();
        let end = |name: &str| format!("pty,raw,echo=0,link={}", dir.path().join(name).display());
        let mut child = Command::new("socat")
            .args(["-d", "-d", &end("peer"), &end("rigor")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run socat ({e}): the RTU cross-check needs it; `apt-get install socat`"
                )
            });
        // socat says so on stderr once both ptys exist and it relays between them.
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = log.next_line().await.unwrap() {
                if line.contains("starting data transfer loop") {
                    return true;
                }
            }
            false
        };
        assert!(
            tokio::time::timeout(START, ready).await.unwrap_or(false),
            "socat did not set up its pty pair"
        );
        Socat { dir, _child: child }
    }

    fn end(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Everything the backend does, against pymodbus's datastore, with `endpoint` making the
/// endpoint of a unit id.
async fn cross_check(peer: &mut Peer, endpoint: impl Fn(u8) -> Endpoint) {
    // The supply: scaled reads of what pymodbus holds.
    let psu = ModbusInstrument::new("psu-1", model("riden-rd6006.yaml"), endpoint(1));
    assert_eq!(psu.read("model").await.unwrap(), Reading::Number(60062.0));
    assert_eq!(psu.read("voltage").await.unwrap(), Reading::Number(12.34));
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(0.072));
    assert_eq!(psu.read("power").await.unwrap(), Reading::Number(655.52));
    assert_eq!(
        psu.read("input_voltage").await.unwrap(),
        Reading::Number(24.0)
    );
    assert_eq!(psu.read("output").await.unwrap(), Reading::Bool(false));

    // A setpoint lands in pymodbus's datastore as raw counts, and reads back scaled.
    psu.write("voltage_set", Reading::Number(12.0))
        .await
        .unwrap();
    assert_eq!(peer.ask("get 1 3 8 1").await, "values 1200");
    assert_eq!(
        psu.read("voltage_set").await.unwrap(),
        Reading::Number(12.0)
    );
    psu.write("current_set", Reading::Number(1.5))
        .await
        .unwrap();
    assert_eq!(peer.ask("get 1 3 9 1").await, "values 1500");
    psu.write("output", Reading::Bool(true)).await.unwrap();
    assert_eq!(peer.ask("get 1 3 18 1").await, "values 1");

    // What pymodbus's datastore changes, the backend reads.
    assert_eq!(peer.ask("set 1 3 11 1500").await, "ok");
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(1.5));

    // A register pymodbus does not have: exception 2, with its code and name, the rig's fault.
    let mut riden = (*model("riden-rd6006.yaml")).clone();
    riden.channels.get_mut("current").unwrap().address = 1;
    let misdescribed = ModbusInstrument::new("psu-1", Arc::new(riden), endpoint(1));
    let err = misdescribed.read("current").await.unwrap_err();
    assert!(
        matches!(err, HalError::Exception { code: 0x02, .. }),
        "{err:?}"
    );
    assert_eq!(err.exception_code(), Some(0x02));
    assert!(
        err.to_string()
            .ends_with("reading `current` answered with Modbus exception 2 (illegal data address)"),
        "{err}"
    );
    assert_eq!(err.blame(), Blame::Rig);
    // An exception is an answer: the link stays up.
    assert_eq!(psu.read("current").await.unwrap(), Reading::Number(1.5));

    // The meter: IEEE-754 singles, high word first, as pymodbus encodes them.
    let meter = ModbusInstrument::new("meter-a", model("eastron-sdm120.yaml"), endpoint(2));
    for (channel, value) in [
        ("voltage", 230.5),
        ("current", 0.25),
        ("active_power", 57.625),
        ("power_factor", -0.5),
        ("frequency", 50.0),
    ] {
        assert_eq!(
            meter.read(channel).await.unwrap(),
            Reading::Number(value),
            "{channel}"
        );
    }
    // Input registers are read-only in Modbus; the backend refuses before asking.
    assert!(matches!(
        meter.write("voltage", Reading::Number(1.0)).await,
        Err(HalError::Unsupported { .. })
    ));

    // The relay board: a coil is a digital line.
    let relays: Arc<dyn Instrument> = Arc::new(ModbusInstrument::new(
        "relays-a",
        model("waveshare-relay-8.yaml"),
        endpoint(3),
    ));
    let relay3 = ModbusLine::new(relays.clone(), "relay3", "relay3");
    relay3.set(true).await.unwrap();
    assert_eq!(peer.ask("get 3 1 2 1").await, "values 1");
    assert_eq!(peer.ask("get 3 1 0 8").await, "values 0 0 1 0 0 0 0 0");
    assert_eq!(peer.ask("set 3 1 6 1").await, "ok");
    let relay7 = ModbusLine::new(relays, "relay7", "relay7");
    assert!(relay7.get().await.unwrap());
    relay3.set(false).await.unwrap();
    assert_eq!(peer.ask("get 3 1 0 8").await, "values 0 0 0 0 0 0 1 0");
}

#[tokio::test]
async fn modbus_tcp_agrees_with_pymodbus() {
    let (mut peer, at) = Peer::start(&["tcp"]).await;
    let address: SocketAddr = at
        .strip_prefix("tcp ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected ready line `{at}`"));
    cross_check(&mut peer, |unit| Endpoint::Tcp { address, unit }).await;
}

#[tokio::test]
async fn modbus_rtu_agrees_with_pymodbus_on_one_shared_line() {
    let socat = Socat::start().await;
    let peer_end = socat.end("peer");
    let (mut peer, at) = Peer::start(&["rtu", peer_end.to_str().unwrap(), "9600", "N", "2"]).await;
    assert_eq!(at, format!("rtu {}", peer_end.display()));
    // Three instruments, one port, one bus, as on rack-a's RS-485 line. 8N2, the specification's
    // framing without parity: Linux ptys refuse parity (tcsetattr with PARENB fails with EINVAL),
    // so parity cannot be exercised here.
    let bus = RtuBus::new(RtuSettings {
        parity: Parity::None,
        stop_bits: StopBits::Two,
        ..RtuSettings::new(socat.end("rigor"), 9600)
    });
    cross_check(&mut peer, |unit| Endpoint::Rtu {
        bus: bus.clone(),
        unit,
    })
    .await;
}
