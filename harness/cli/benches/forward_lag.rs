//! Forwarding lag while a station tests: `rigor demo --central` runs the demo's scenarios on four
//! slots at once, its forwarder sending in the background, against a throwaway PostgreSQL
//! cluster. The lag of a run is the time from its end on the station to its end's arrival in the
//! central store (`run_ends.received_at`, the same machine's clock). The aim: under 1 s.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly on purpose

use std::process::Command;

use rigor_pg_cluster::Cluster;

const ROUNDS: usize = 3;

fn rigor(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_rigor"))
        .current_dir(dir)
        .args(args)
        .env("RIGOR_CENTRAL_PASSWORD", "line1-pw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rigor {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    // `cargo test --benches` runs benchmarks once as tests; this one is measured only by `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cluster = Cluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    rigor(
        dir.path(),
        &["central", "migrate", "--url", &cluster.superuser_url()],
    );
    cluster
        .psql("CREATE ROLE line1 LOGIN PASSWORD 'line1-pw' IN ROLE rigor_station")
        .unwrap();
    let url = format!("postgres://line1@127.0.0.1:{}/rigor", cluster.port());
    for _ in 0..ROUNDS {
        rigor(dir.path(), &["demo", "--central", &url]);
    }
    let rows = cluster
        .psql(
            "SELECT (extract(epoch FROM received_at) * 1000000)::bigint - ended_at_us \
             FROM run_ends ORDER BY 1",
        )
        .unwrap();
    let lags: Vec<f64> = rows
        .lines()
        .map(|l| l.trim().parse::<i64>().unwrap() as f64 / 1000.0)
        .collect();
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    println!(
        "forwarding lag, 4 slots running the demo's scenarios, {} runs: p50 {:.0} ms, p95 {:.0} ms, \
         max {:.0} ms (aim: under 1 s)",
        lags.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}
