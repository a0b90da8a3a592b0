//! `rigor sim` stands the virtual bench up on its own: what it prints is enough to power a unit
//! with any Modbus client and see it boot on its console, and SIGTERM stops it cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_modbus::client::Writer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_of_the_standalone_bench_boots_when_its_supply_is_switched_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .arg("sim")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env("XDG_RUNTIME_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
    let (mut console, mut supply) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        let line = line.trim();
        if console.is_none()
            && let Some(rest) = line.strip_prefix("console  ")
        {
            console = rest.split_whitespace().next().map(str::to_owned);
        }
        if supply.is_none()
            && let Some(rest) = line.strip_prefix("psu-1    Modbus TCP ")
        {
            supply = rest.split(',').next().map(str::to_owned);
        }
        if line.starts_with("Power a unit") {
            break;
        }
    }
    let (console, supply) = (console.unwrap(), supply.unwrap());

    // The console first, as on a rack: what a unit says before anyone listens is lost.
    let mut port = serialport::new(&console, 115_200)
        .timeout(Duration::from_millis(100))
        .open_native()
        .unwrap();
    // Any Modbus client will do: the RD6006's map says 12.00 V is 1200 in register 8, and
    // register 18 switches the output.
    let mut psu = tokio_modbus::client::tcp::connect(supply.parse().unwrap())
        .await
        .unwrap();
    psu.write_single_register(8, 1200).await.unwrap().unwrap();
    psu.write_single_register(18, 1).await.unwrap().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&heard).contains("fridge-ctl gen1 fw 1.4.2") {
        assert!(
            Instant::now() < deadline,
            "no banner: {:?}",
            String::from_utf8_lossy(&heard)
        );
        match port.read(&mut buf) {
            Ok(n) => heard.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }

    let term = Command::new("kill")
        .args(["-TERM", &sim.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(sim.wait().unwrap().code(), Some(0));
    assert_eq!(rest.last().map(String::as_str), Some("rigor sim: stopped"));
}
