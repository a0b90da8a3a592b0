//! Forwarding throughput against a raw binary `COPY` of the same rows into the same database,
//! side by side: rows per second of `push` (read the station store, COPY into staging,
//! `INSERT … ON CONFLICT DO NOTHING`, mark) and of a plain `COPY` into ordinary tables of the
//! same shape, and of a plain `COPY` straight into the record tables (their keys, foreign keys
//! and checks are the floor for any forwarder). The aim is forwarding at 50 % of raw
//! `COPY` or better.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly on purpose

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rigor_central::{CentralConfig, ForwardOptions, push};
use rigor_pg_cluster::Cluster;
use rigor_store::synthetic::Synthetic;
use rigor_store::{RunId, Store, Timestamp};

const RUNS: usize = 1000;

fn fresh_store(dir: &std::path::Path, n: usize) -> Store {
    let path = dir.join(format!("station-{n}.db"));
    let mut store = Store::open(&path).unwrap();
    Synthetic {
        station: format!("line{n}"),
        serial_prefix: "FC".into(),
        units: 200,
        runs: RUNS,
        start: Timestamp(1_700_000_000_000_000),
        per_commit: 500,
        last_open: false,
    }
    .fill(&mut store)
    .unwrap();
    store
}

fn all_runs(store: &Store) -> Vec<RunId> {
    (1..)
        .map(RunId)
        .take_while(|id| store.run_uuid(*id).is_ok())
        .collect()
}

fn forwarding(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster = Cluster::start().unwrap();
    let central = CentralConfig::parse(&cluster.superuser_url()).unwrap();
    let mut client = runtime.block_on(central.connect()).unwrap();
    runtime
        .block_on(rigor_central::migrate(&mut client, central.target()))
        .unwrap();
    // Ordinary (logged) tables shaped as the staging tables, for the raw COPY.
    let raw_tables = rigor_central::push::STAGING_TABLES
        .replace(
            "CREATE TEMP TABLE IF NOT EXISTS stage_",
            "CREATE TABLE raw_",
        )
        .replace(" ON COMMIT DELETE ROWS", "");
    runtime.block_on(client.batch_execute(&raw_tables)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let rows = {
        let store = fresh_store(dir.path(), 0);
        store.export_runs(&all_runs(&store)).unwrap().rows()
    };
    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let mut n = 1;
    group.bench_function(format!("push {RUNS} runs"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new station each time: new run UUIDs, so every row is new centrally.
                let mut store = fresh_store(dir.path(), n);
                n += 1;
                let options = ForwardOptions {
                    batch_runs: 500,
                    ..ForwardOptions::default()
                };
                let start = Instant::now();
                let report = runtime
                    .block_on(push(&mut store, &central, &options, Duration::ZERO))
                    .unwrap();
                total += start.elapsed();
                assert_eq!(report.marked, RUNS);
            }
            total
        })
    });
    group.bench_function(format!("raw COPY of the same rows ({RUNS} runs)"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let store = fresh_store(dir.path(), n);
                n += 1;
                let export = store.export_runs(&all_runs(&store)).unwrap();
                let start = Instant::now();
                runtime.block_on(async {
                    let tx = client.transaction().await.unwrap();
                    rigor_central::push::copy_rows(&tx, &export, "raw_")
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                });
                total += start.elapsed();
            }
            total
        })
    });
    // The same rows COPYed straight into the record tables, whose keys, foreign keys and checks
    // forwarding cannot skip: the floor for any forwarder into this schema. The station, its
    // units and blobs go in first, untimed.
    group.bench_function(
        format!("raw COPY into the record tables ({RUNS} runs)"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let store = fresh_store(dir.path(), n);
                    n += 1;
                    let export = store.export_runs(&all_runs(&store)).unwrap();
                    let station = store.station_id().unwrap();
                    runtime.block_on(parents(&client, &store, station, &export));
                    let start = Instant::now();
                    runtime.block_on(async {
                        let tx = client.transaction().await.unwrap();
                        rigor_central::push::copy_records(&tx, station, &export)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    });
                    total += start.elapsed();
                }
                total
            })
        },
    );
    // The station side alone: reading the rows out of SQLite.
    let store = fresh_store(dir.path(), n);
    let ids = all_runs(&store);
    group.bench_function(format!("export {RUNS} runs from the station store"), |b| {
        b.iter(|| store.export_runs(&ids).unwrap())
    });
    group.finish();
}

/// The station, units and blobs the record rows of `export` refer to.
async fn parents(
    client: &tokio_postgres::Client,
    store: &Store,
    station: uuid::Uuid,
    export: &rigor_store::Export,
) {
    client
        .execute(
            "INSERT INTO stations (station_id, name) VALUES ($1, 'yardstick')",
            &[&station],
        )
        .await
        .unwrap();
    for run in &export.runs {
        client
            .execute(
                "INSERT INTO units VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    &run.unit_serial,
                    &run.family,
                    &run.generation,
                    &run.unit_first_seen_us,
                ],
            )
            .await
            .unwrap();
    }
    for artifact in &export.artifacts {
        let content = store.artifact_content(&artifact.sha256).unwrap().unwrap();
        client
            .execute(
                "INSERT INTO artifact_blobs VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&artifact.sha256, &(content.len() as i64), &content],
            )
            .await
            .unwrap();
    }
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
