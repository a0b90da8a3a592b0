//! The engine's own cost, with durable recording into a SQLite file (group commit on the writer
//! thread):
//! - per measurement step: 1 000 measure steps against an instant instrument on one slot
//!   (target ≤ 10 µs a step), beside the same with an in-memory recorder;
//! - throughput: 64 slots × 1 000 measure steps at once, recorded steps per second;
//! - scaling: one IO-bound scenario on 64 slots at once against the same on one slot (target ≤ 1.25×).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark fails loudly

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rigor_hal::Reading;
use rigor_hal::fake::FakeInstrument;
use rigor_runner::devices::SlotDevices;
use rigor_runner::engine::RunRequest;
use rigor_station::{Sinks, SlotJob, run_slots};

const SLOTS: usize = 64;

/// A rig of 64 slots with a supply each, a fixture, and the two scenarios.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut rig = String::from("rig: bench-rig\ninstruments:\n");
    for i in 0..SLOTS {
        let _ = writeln!(
            rig,
            "  psu-{i}: {{ model: riden-rd6006, modbus: {{ tcp: {{ address: \"127.0.0.1:1\" }} }} }}"
        );
    }
    rig.push_str("slots:\n");
    for i in 0..SLOTS {
        let _ = writeln!(
            rig,
            "  s{i:02}:\n    kind: bench-socket\n    instruments: {{ psu: psu-{i} }}\n    power: {{ supply: {{ instrument: psu }} }}"
        );
    }
    std::fs::write(dir.join("rig.yaml"), rig).unwrap();
    std::fs::write(dir.join("fixture.yaml"), "fixture: fx-bench\nfits: { family: fridge-ctl, generations: [gen2] }\nslot-kind: bench-socket\n").unwrap();
    let mut many = String::from(
        "scenario: many-measurements\nversion: 1\napplies-to: { family: fridge-ctl }\nsteps:\n",
    );
    for i in 0..1000 {
        let _ = writeln!(
            many,
            "  - measure: {{ name: m{i:04}, from: psu.current, limits: {{ high: 1, unit: A }} }}"
        );
    }
    std::fs::write(dir.join("many.yaml"), many).unwrap();
    let io = "scenario: io-bound\nversion: 1\napplies-to: { family: fridge-ctl }\nsteps:\n  - power: on\n  - wait: 100ms\n  - measure: { name: a, from: psu.current, limits: { high: 1, unit: A } }\n  - wait: 100ms\n  - measure: { name: b, from: psu.current, limits: { high: 1, unit: A } }\nteardown:\n  - power: off\n";
    std::fs::write(dir.join("io.yaml"), io).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    vec![
        root.join("device-profiles"),
        root.join("rigs/instruments"),
        dir.to_path_buf(),
    ]
}

fn jobs(catalog: &rigor_model::Catalog, scenario: &str, slots: usize) -> Vec<SlotJob> {
    let rig = &catalog.rigs["bench-rig"];
    (0..slots)
        .map(|i| {
            let slot = format!("s{i:02}");
            let target = rigor_plan::Target {
                scenario: &catalog.scenarios[scenario],
                profile: &catalog.profiles["fridge-ctl-gen2"],
                fixture: &catalog.fixtures["fx-bench"],
                rig,
                slot: &slot,
            };
            let plan = rigor_plan::bind(catalog, target, &BTreeMap::new()).unwrap();
            let psu = FakeInstrument::default();
            psu.set("current", Reading::Number(0.07));
            let devices = SlotDevices {
                instruments: [(
                    format!("psu-{i}"),
                    Arc::new(psu) as Arc<dyn rigor_hal::Instrument>,
                )]
                .into(),
                ..SlotDevices::default()
            };
            SlotJob {
                request: RunRequest {
                    plan,
                    unit: Some(format!("FC2-{i:06}")),
                    operator: None,
                    infrastructure_retries: 0,
                    gate: None,
                    session: None,
                    installed_firmware: None,
                },
                devices,
                lease: None,
            }
        })
        .collect()
}

/// Binding, opening the store and the lock folder: set up outside the measurement.
fn prepare(catalog: &rigor_model::Catalog, store: &Path, scenario: &str, slots: usize) -> Prepared {
    let store = rigor_store::Store::open(store).unwrap();
    let sinks = Sinks::new(
        Box::new(rigor_station::record::StoreRecorder::new(store)),
        Vec::new(),
    );
    (
        jobs(catalog, scenario, slots),
        sinks,
        tempfile::tempdir().unwrap(),
    )
}

type Prepared = (Vec<SlotJob>, Sinks, tempfile::TempDir);

fn run(rt: &tokio::runtime::Runtime, (jobs, sinks, locks): Prepared) {
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    let results = rt.block_on(async {
        let results = run_slots(jobs, &sinks, locks.path().to_path_buf(), cancel).await;
        sinks.flush().await;
        results
    });
    assert!(results.iter().all(|(_, r)| r.is_ok()));
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, diags) = rigor_model::load_paths(&tree(dir.path()));
    assert!(diags.is_empty(), "{diags}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = dir.path().join("bench.db");

    let mut g = c.benchmark_group("measure step, durable");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000 steps", |b| {
        b.iter_batched(
            || prepare(&catalog, &store, "many-measurements", 1),
            |p| run(&rt, p),
            BatchSize::PerIteration,
        )
    });
    // The same without the store: what the engine itself costs, for comparison.
    g.bench_function("1000 steps, in-memory recorder", |b| {
        b.iter_batched(
            || {
                let sinks = Sinks::new(
                    Box::new(rigor_runner::recorder::MemoryRecorder::default()),
                    Vec::new(),
                );
                (
                    jobs(&catalog, "many-measurements", 1),
                    sinks,
                    tempfile::tempdir().unwrap(),
                )
            },
            |p| run(&rt, p),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("measure steps on 64 slots at once, durable");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1000 * SLOTS as u64));
    g.bench_function("64 x 1000 steps", |b| {
        b.iter_batched(
            || prepare(&catalog, &store, "many-measurements", SLOTS),
            |p| run(&rt, p),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("io-bound scenario");
    g.sample_size(10);
    g.bench_function("1 slot", |b| {
        b.iter_batched(
            || prepare(&catalog, &store, "io-bound", 1),
            |p| run(&rt, p),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("64 slots", |b| {
        b.iter_batched(
            || prepare(&catalog, &store, "io-bound", SLOTS),
            |p| run(&rt, p),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
