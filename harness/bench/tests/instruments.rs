//! Regression (issue 9.10): the virtual bench's instruments answer as the real ones do, checked
//! with a Modbus client rigor did not write (pymodbus, tests/peers/pymodbus_client.py): a block
//! read across unmapped registers, write-multiple-coils, and requests for another unit id.
//!
//! Needs python3 with pymodbus (`pip install -r harness/drivers/tests/requirements-peers.txt`,
//! or RIGOR_PYTHON pointing at an interpreter that has it); without it these tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rigor_bench::{Bench, InstrumentEndpoint, UnitSpec};
use rigor_model::instrument::InstrumentModel;
use rigor_model::rig::{ModbusLink, VirtualTransport};

/// How long the client may take in all (a cold import of pymodbus, two-second silences).
const CLIENT: Duration = Duration::from_secs(60);

/// A gen2 unit in slot1 of the shipped virtual bench, its supply served over `transport`.
async fn bench(transport: VirtualTransport) -> Bench {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (catalog, diags) =
        rigor_model::load_paths(&["device-profiles", "rigs", "fixtures"].map(|d| root.join(d)));
    assert!(diags.is_empty(), "{diags:?}");
    let mut rig = catalog.rigs["virtual-bench"].value.clone();
    let psu = rig.instruments.get_mut("psu-1").unwrap();
    let ModbusLink::Virtual(link) = &mut psu.modbus else {
        panic!("the shipped bench's psu-1 is virtual");
    };
    link.transport = transport;
    let models: BTreeMap<String, Arc<InstrumentModel>> = catalog
        .instruments
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let spec = UnitSpec {
        slot: "slot1".into(),
        serial: "FC2-000910".into(),
        profile: catalog.profiles["fridge-ctl-gen2"].value.clone(),
        fixture: catalog.fixtures["fx-fridge-gen2"].value.clone(),
        faults: Vec::new(),
        installed: None,
    };
    Bench::start(&rig, &models, vec![spec], 7).await.unwrap()
}

/// Runs the pymodbus client with `args` and returns its answer lines.
async fn pymodbus(args: &[String]) -> Vec<String> {
    let python = std::env::var("RIGOR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pymodbus_client.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CLIENT, run)
        .await
        .unwrap_or_else(|_| panic!("the pymodbus client did not finish within {CLIENT:?}"))
        .unwrap_or_else(|e| {
            panic!("cannot run `{python}` ({e}): these tests need python3 with pymodbus")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the pymodbus client failed ({}): {stderr}",
        out.status
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn tcp(address: std::net::SocketAddr, ops: &[&str]) -> Vec<String> {
    let mut args = vec![
        "tcp".to_owned(),
        address.ip().to_string(),
        address.port().to_string(),
    ];
    args.extend(ops.iter().map(|&o| o.to_owned()));
    args
}

/// The block `0..20` as the bench's RD6006 answers it with the output off.
fn registers(answer: &str) -> Vec<u32> {
    let values = answer
        .strip_prefix("values ")
        .unwrap_or_else(|| panic!("{answer}"));
    values.split(' ').map(|v| v.parse().unwrap()).collect()
}

fn assert_riden_block(answer: &str) {
    let regs = registers(answer);
    assert_eq!(regs.len(), 20, "{answer}");
    assert_eq!(regs[0], 60062, "the model number: {answer}");
    // Registers the map does not name read as zeros, as on the real supply.
    for unmapped in [1, 2, 3, 4, 5, 6, 7, 15, 17, 19] {
        assert_eq!(regs[unmapped], 0, "register {unmapped}: {answer}");
    }
    assert_eq!(regs[14], 2400, "V-IN 24.00 V: {answer}");
    assert_eq!(regs[18], 0, "the output is off: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_read_over_unmapped_registers_gets_the_whole_block_and_other_units_a_gateway_exception()
 {
    let bench = bench(VirtualTransport::Tcp).await;
    let InstrumentEndpoint::Tcp(psu) = bench.slot("slot1").unwrap().instruments["psu-1"].clone()
    else {
        panic!("psu-1 is on Modbus TCP");
    };
    let said = pymodbus(&tcp(psu, &["read:1:0:20", "read:7:0:20"])).await;
    assert_riden_block(&said[0]);
    // Unit 7 is nobody behind this gateway: 0x0B, "gateway target device failed to respond".
    assert_eq!(said[1], "exception 11");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_rs485_line_a_request_for_another_unit_gets_silence() {
    let bench = bench(VirtualTransport::Rtu).await;
    let InstrumentEndpoint::Rtu(path) = bench.slot("slot1").unwrap().instruments["psu-1"].clone()
    else {
        panic!("psu-1 is on Modbus RTU");
    };
    let mut args = vec![path.to_string_lossy().into_owned(), "115200".to_owned()];
    args.insert(0, "rtu".to_owned());
    args.extend(["read:7:0:20", "read:1:0:20"].map(str::to_owned));
    let said = pymodbus(&args).await;
    assert_eq!(said[0], "silence");
    // The line is not left confused: unit 1 answers the next request.
    assert_riden_block(&said[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digital_io_module_takes_write_multiple_coils() {
    let bench = bench(VirtualTransport::Tcp).await;
    let io = bench.slot("slot1").unwrap().io;
    let said = pymodbus(&tcp(
        io,
        &[
            "write-coils:1:0:1011",
            "coils:1:0:8",
            "write-coils:1:6:111",
            "coils:1:0:8",
            "coils:2:0:8",
        ],
    ))
    .await;
    assert_eq!(
        said,
        [
            "ok",
            "values 1 0 1 1 0 0 0 0",
            // Coils 6..9 run past the module's 8 lines: refused whole, nothing written.
            "exception 2",
            "values 1 0 1 1 0 0 0 0",
            "exception 11",
        ]
    );
}
