//! `rigor run` end to end through real OS interfaces: the console is a pseudo-terminal played by
//! a firmware thread, the supply a Modbus TCP server on loopback serving the RD6006 map; the
//! device boots when the supply's output is switched on and draws current while it runs. The
//! store is read back afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::exited;
use serialport::{SerialPort, TTYPort};
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response};

#[derive(Clone, Default)]
struct Supply(Arc<Mutex<HashMap<u16, u16>>>);

impl tokio_modbus::server::Service for Supply {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;
    fn call(&self, req: Request<'static>) -> Self::Future {
        let mut regs = self.0.lock().unwrap();
        std::future::ready(match req {
            Request::ReadHoldingRegisters(a, n) if a + n <= 32 => {
                Ok(Response::ReadHoldingRegisters(
                    (a..a + n)
                        .map(|r| regs.get(&r).copied().unwrap_or(0))
                        .collect(),
                ))
            }
            Request::WriteSingleRegister(a, v) if a < 32 => {
                regs.insert(a, v);
                Ok(Response::WriteSingleRegister(a, v))
            }
            _ => Err(ExceptionCode::IllegalDataAddress),
        })
    }
}

/// Starts the supply on a runtime of its own; returns its address.
fn supply(state: Supply) -> std::net::SocketAddr {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let server = Server::new(listener);
            let on_connected = move |stream, socket_addr| {
                let state = state.clone();
                async move {
                    accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(state.clone())))
                }
            };
            let _ = server.serve(&on_connected, |_| {}).await;
        });
    });
    addr
}

/// The firmware: boots when the supply's output goes on, answers `version` and `temp`.
fn firmware(mut uart: TTYPort, supply: Supply, temp: &'static str) {
    std::thread::spawn(move || {
        uart.set_timeout(Duration::from_millis(10)).unwrap();
        let mut powered = false;
        let mut line = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let on = supply.0.lock().unwrap().get(&18).copied().unwrap_or(0) == 1;
            if on && !powered {
                supply.0.lock().unwrap().insert(11, 72); // 72 mA
                if uart
                    .write_all(b"fridge-ctl gen2 fw 2.1.0\r\nfridge> ")
                    .is_err()
                {
                    return;
                }
            }
            if !on && powered {
                supply.0.lock().unwrap().insert(11, 0);
            }
            powered = on;
            match uart.read(&mut buf) {
                Ok(n) => line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(_) => return,
            }
            while let Some(end) = line.iter().position(|b| *b == b'\n') {
                let cmd = String::from_utf8_lossy(&line[..end]).trim().to_owned();
                line.drain(..=end);
                let answer = match cmd.as_str() {
                    "temp" => format!("temp: {temp} C"),
                    other => format!("unknown: {other}"),
                };
                let _ = uart.write_all(format!("{answer}\r\nfridge> ").as_bytes());
            }
        }
    });
}

fn write_tree(dir: &Path, console: &str, psu: std::net::SocketAddr) {
    std::fs::write(
        dir.join("rig.yaml"),
        format!(
            "rig: test-bench\nstation: {{ id: test-1 }}\npermissions: {{ flash: true }}\ninstruments:\n  psu-t: {{ model: riden-rd6006, modbus: {{ tcp: {{ address: \"{psu}\", unit: 1 }} }} }}\n\
             slots:\n  s1:\n    kind: test-socket\n    serial: {{ uart0: {{ path: {console} }} }}\n    instruments: {{ psu: psu-t }}\n\
             \x20   power: {{ supply: {{ instrument: psu, set-voltage: voltage_set, set-current: current_set }} }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("fixture.yaml"),
        "fixture: fx-test\nfits: { family: fridge-ctl, generations: [gen2] }\nslot-kind: test-socket\nconsole: uart0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scenario.yaml"),
        r#"scenario: bench-smoke
version: 1
applies-to: { family: fridge-ctl }
steps:
  - power: on
  - id: banner
    console.expect: { pattern: "${boot_banner}", within: 5s }
  - measure: { name: idle_current, from: psu.current, limits: { from-profile: idle_current } }
  - console.send: temp
  - console.expect: 'temp: (?P<t>[\d.]+) C'
  - measure: { name: firmware_temp, capture: t, unit: °C, limits: { low: 2, high: 8, unit: °C } }
teardown:
  - power: off
"#,
    )
    .unwrap();
}

fn rigor(dir: &Path, store: &Path) -> std::process::Output {
    rigor_with(dir, store, &[])
}

fn rigor_with(dir: &Path, store: &Path, extra: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args([
            "run",
            "--rig",
            "test-bench",
            "--scenario",
            "bench-smoke",
            "--unit",
            "FC2-000042",
        ])
        .args(extra)
        .arg("--lock-dir")
        .arg(dir)
        .arg("--store")
        .arg(store)
        .arg("--path")
        .arg(root.join("device-profiles"))
        .arg("--path")
        .arg(root.join("rigs/instruments"))
        .arg("--path")
        .arg(dir)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap()
}

fn setup(temp: &'static str) -> (tempfile::TempDir, PathBuf, Supply) {
    let dir = tempfile::tempdir().unwrap();
    let (master, slave) = TTYPort::pair().unwrap();
    let console = slave.name().unwrap();
    let state = Supply::default();
    let addr = supply(state.clone());
    firmware(master, state.clone(), temp);
    write_tree(dir.path(), &console, addr);
    // Keep the slave open for the test's life, so the pty survives between the two runs.
    std::mem::forget(slave);
    let store = dir.path().join("rigor.db");
    (dir, store, state)
}

#[test]
fn a_unit_is_run_recorded_and_run_again_as_attempt_2() {
    let (dir, store, supply) = setup("4.25");
    let out = rigor(dir.path(), &store);
    let stdout = exited(&out, 0);
    assert!(stdout.contains("[s1] banner ... ok"), "{stdout}");
    // Teardown switched the supply off.
    assert_eq!(supply.0.lock().unwrap().get(&18), Some(&0));

    let db = rusqlite::Connection::open(&store).unwrap();
    let first: Vec<(String, f64, String)> = db
        .prepare("SELECT name, value, outcome FROM measurements ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        first,
        [
            ("firmware_temp".to_owned(), 4.25, "pass".to_owned()),
            ("idle_current".to_owned(), 0.072, "pass".to_owned())
        ]
    );
    let snapshot = |db: &rusqlite::Connection| -> Vec<String> {
        db.prepare(
            "SELECT id || attempt || unit_serial || scenario_name FROM runs WHERE attempt = 1",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let before = snapshot(&db);

    let out = rigor(dir.path(), &store);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let attempts: Vec<u32> = db
        .prepare("SELECT attempt FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(attempts, [1, 2]);
    assert_eq!(snapshot(&db), before, "attempt 1 is untouched");
    let outcomes: Vec<String> = db
        .prepare("SELECT outcome FROM run_ends ORDER BY run_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(outcomes, ["pass", "pass"]);
    let transcript: i64 = db
        .query_row(
            "SELECT count(*) FROM run_artifacts WHERE name = 'console.log'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(transcript, 2, "a console transcript per run");
    // The store itself refuses to change what it recorded.
    let err = db
        .execute("UPDATE measurements SET value = 0.05", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = db.execute("DELETE FROM runs", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn a_failed_measurement_exits_1_with_the_value_against_its_limits() {
    let (dir, store, _supply) = setup("8.50");
    let junit = dir.path().join("junit.xml");
    let out = rigor_with(dir.path(), &store, &["--junit", junit.to_str().unwrap()]);
    let stdout = exited(&out, 1);
    assert!(
        stdout.contains("FAILED: firmware_temp = 8.5 °C, limits 2 <= x <= 8 °C"),
        "{stdout}"
    );
    let db = rusqlite::Connection::open(&store).unwrap();
    let (outcome, class): (String, String) = db
        .query_row("SELECT outcome, failure_class FROM run_ends", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((outcome.as_str(), class.as_str()), ("fail", "device"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuite name="bench-smoke on FC2-000042, attempt 1" tests="8" disabled="0" errors="0" failures="1""#), "{xml}");
    assert!(xml.contains(r#"<failure message="firmware_temp = 8.5 °C, limits 2 &lt;= x &lt;= 8 °C" type="device">"#), "{xml}");
    assert!(
        xml.contains(r#"<property name="serial" value="FC2-000042"/>"#),
        "{xml}"
    );
}

/// What a person reads on the terminal, times and paths redacted (they change from run to run).
fn redacted(stdout: &str, dir: &Path) -> String {
    let ms = regex::Regex::new(r"\(\d+ ms\)").unwrap();
    let secs = regex::Regex::new(r" in \d+\.\ds").unwrap();
    let text = stdout.replace(&dir.display().to_string(), "[dir]");
    let text = ms.replace_all(&text, "([ms] ms)");
    secs.replace_all(&text, " in [secs]s").into_owned()
}

#[test]
fn progress_shows_each_step_then_the_run_as_a_person_reads_it() {
    let (dir, store, _supply) = setup("8.50");
    let out = rigor(dir.path(), &store);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    insta::assert_snapshot!(redacted(&stdout, dir.path()));
}

#[test]
fn a_run_killed_mid_way_leaves_a_consistent_store_and_a_free_slot() {
    let (dir, store, _supply) = setup("4.25");
    // A scenario that powers the unit, checks the banner, then waits long enough to be killed.
    std::fs::write(
        dir.path().join("scenario.yaml"),
        "scenario: bench-smoke\nversion: 2\napplies-to: { family: fridge-ctl }\nsteps:\n  - power: on\n  - id: banner\n    console.expect: { pattern: \"${boot_banner}\", within: 5s }\n  - wait: 10min\nteardown:\n  - power: off\n",
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .args([
            "run",
            "--rig",
            "test-bench",
            "--scenario",
            "bench-smoke",
            "--unit",
            "FC2-000042",
            "--store",
        ])
        .arg(&store)
        .arg("--lock-dir")
        .arg(dir.path())
        .arg("--path")
        .arg(root.join("device-profiles"))
        .arg("--path")
        .arg(root.join("rigs/instruments"))
        .arg("--path")
        .arg(dir.path())
        .env("XDG_RUNTIME_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill it once the banner step is reported done (and so recorded: the recorder goes first).
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("banner ... ok") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "rigor ended before the banner"
        );
    }
    child.kill().unwrap(); // SIGKILL: no teardown, no end row
    child.wait().unwrap();

    let db = rusqlite::Connection::open(&store).unwrap();
    let steps: Vec<(String, String)> = db
        .prepare("SELECT step_id, outcome FROM steps ORDER BY step_index")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        steps,
        [
            ("power".to_owned(), "pass".to_owned()),
            ("banner".to_owned(), "pass".to_owned())
        ]
    );
    let status: String = db
        .query_row("SELECT outcome FROM run_summary", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "incomplete");
    drop(db);

    // The slot's lock died with the process: the next run takes the slot and is attempt 2.
    std::fs::write(
        dir.path().join("scenario.yaml"),
        "scenario: bench-smoke\nversion: 2\napplies-to: { family: fridge-ctl }\nsteps:\n  - power: on\nteardown:\n  - power: off\n",
    )
    .unwrap();
    let out = rigor(dir.path(), &store);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = rusqlite::Connection::open(&store).unwrap();
    let attempts: Vec<u32> = db
        .prepare("SELECT attempt FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(attempts, [1, 2]);
}

/// Regression (issue 9.4): slot locks lived under `$XDG_RUNTIME_DIR`, so two `rigor run` of
/// different sessions drove one slot at once. A real rig's slot is now locked for the host.
#[test]
fn a_real_slot_is_locked_for_the_host_whatever_the_environment() {
    let (dir, store, _supply) = setup("4.25");
    let rig = std::fs::read_to_string(dir.path().join("rig.yaml")).unwrap();
    std::fs::write(
        dir.path().join("rig.yaml"),
        rig.replace("rig: test-bench", "rig: lock-bench"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("scenario.yaml"),
        "scenario: bench-smoke\nversion: 2\napplies-to: { family: fridge-ctl }\nsteps:\n  - power: on\n  - id: banner\n    console.expect: { pattern: \"${boot_banner}\", within: 5s }\n  - wait: 10min\nteardown:\n  - power: off\n",
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = |runtime: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rigor"));
        cmd.args(["run", "--rig", "lock-bench", "--scenario", "bench-smoke"])
            .args(["--unit", "FC2-000042", "--store"])
            .arg(&store)
            .arg("--path")
            .arg(root.join("device-profiles"))
            .arg("--path")
            .arg(root.join("rigs/instruments"))
            .arg("--path")
            .arg(dir.path())
            .env("XDG_RUNTIME_DIR", runtime);
        cmd
    };
    let first_runtime = tempfile::tempdir().unwrap();
    let mut first = run(first_runtime.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("banner ... ok") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
    }
    let second_runtime = tempfile::tempdir().unwrap();
    let second = run(second_runtime.path()).output().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("slot `s1` of rig `lock-bench` is in use"),
        "{stderr}"
    );
}
