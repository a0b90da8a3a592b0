//! Forwarding to a real PostgreSQL through the `rigor` binary: the demo with `--central`, and a
//! `rigor store push` killed with SIGKILL 20 times, then finished: the central store holds
//! exactly what the station holds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rigor_central::CentralConfig;
use rigor_pg_cluster::Cluster;
use rigor_store::synthetic::Synthetic;
use rigor_store::{RunId, Store, Timestamp};

const STATION_PW: &str = "line1-pw";

fn rigor(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rigor"))
        .current_dir(dir)
        .args(args)
        .env("RIGOR_CENTRAL_PASSWORD", STATION_PW)
        .env_remove("RIGOR_CENTRAL_URL")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A migrated central store with a station login `line1` (password from the environment) and
/// an analyst login `quality`.
fn central(dir: &Path) -> (Cluster, String) {
    let cluster = Cluster::start().unwrap();
    let out = rigor(
        dir,
        &["central", "migrate", "--url", &cluster.superuser_url()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).ends_with("is at central schema version 3\n"),
        "{}",
        text(&out)
    );
    cluster
        .psql(&format!(
            "CREATE ROLE line1 LOGIN PASSWORD '{STATION_PW}' IN ROLE rigor_station;
             CREATE ROLE quality LOGIN PASSWORD 'q' IN ROLE rigor_analyst;"
        ))
        .unwrap();
    let url = format!("postgres://line1@127.0.0.1:{}/rigor", cluster.port());
    (cluster, url)
}

fn analyst(cluster: &Cluster) -> CentralConfig {
    CentralConfig::parse(&format!(
        "postgres://quality:q@127.0.0.1:{}/rigor",
        cluster.port()
    ))
    .unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Every row the station holds is in the central store, and nothing else of this station.
fn assert_same(cluster: &Cluster, store: &Store) {
    let all: Vec<RunId> = (1..)
        .map(RunId)
        .take_while(|id| store.run_uuid(*id).is_ok())
        .collect();
    let local = store.export_runs(&all).unwrap();
    let remote = block_on(async {
        let client = analyst(cluster).connect().await.unwrap();
        rigor_central::read::station_export(&client, store.station_id().unwrap())
            .await
            .unwrap()
    });
    assert_eq!(remote.runs.len(), local.runs.len());
    assert_eq!(remote.measurements.len(), local.measurements.len());
    assert!(remote == local, "central and station rows differ");
}

fn central_runs(cluster: &Cluster) -> i64 {
    cluster
        .psql("SELECT count(*) FROM runs")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_demo_forwards_as_it_runs_and_the_history_is_read_back_from_the_central_store() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, url) = central(dir.path());
    for round in 1..=2 {
        let out = rigor(dir.path(), &["demo", "--central", &url]);
        let printed = text(&out);
        assert_eq!(out.status.code(), Some(0), "{printed}");
        assert!(
            printed.contains(&format!(
                "forwarded to postgres://127.0.0.1:{}/rigor: 13 runs newly complete there, \
                 nothing left",
                cluster.port()
            )),
            "round {round}: {printed}"
        );
    }
    let store = Store::open(dir.path().join("rigor-demo.db")).unwrap();
    assert_same(&cluster, &store);
    // Each demo's gateway-sensors session arrives whole: one gateway and two sensors under one
    // id, as the station recorded them.
    let sessions = cluster
        .psql(
            "SELECT string_agg(role, ',' ORDER BY role) FROM session_runs \
             GROUP BY session_id ORDER BY 1",
        )
        .unwrap();
    let session = "gateway[0],sensor[0],sensor[1]";
    assert_eq!(sessions, format!("{session}\n{session}\n"));
    let status = rigor(dir.path(), &["store", "status", "--store", "rigor-demo.db"]);
    assert!(
        text(&status).contains("not forwarded: no ended runs; 0 open runs"),
        "{}",
        text(&status)
    );
    // The unit with the sensor bug: two smoke attempts, both failed, numbered centrally.
    let history = cluster
        .psql(
            "SELECT attempt, station_attempt, scenario_name, outcome FROM run_history \
             WHERE unit_serial = 'FC2-000201' AND scenario_name = 'smoke' ORDER BY attempt",
        )
        .unwrap();
    assert_eq!(history, "1|1|smoke|fail\n2|2|smoke|fail\n");
    let url = format!("postgres://quality:q@127.0.0.1:{}/rigor", cluster.port());
    let out = rigor(
        dir.path(),
        &["central", "history", "--url", &url, "--unit", "FC2-000201"],
    );
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.starts_with("unit FC2-000201 (fridge-ctl gen2): 6 runs at 1 station\n"),
        "{printed}"
    );
    assert_eq!(printed.matches("FAIL  footprint").count(), 2, "{printed}");

    // The analysts' views read the central store as they read the station's file: with one
    // station, the same numbers.
    for view in [
        &["yield", "--by", "generation"][..],
        &["pareto", "--by", "measurement"],
        &["capability"],
        &["retest"],
        &["unit", "FC2-000201"],
    ] {
        let on = |store: &str| {
            let mut args = vec!["results"];
            args.extend_from_slice(view);
            args.extend_from_slice(&["--store", store, "--format", "json"]);
            let out = rigor(dir.path(), &args);
            assert!(out.status.success(), "{view:?} on {store}: {}", text(&out));
            without_run_ids(&String::from_utf8(out.stdout).unwrap())
        };
        assert_eq!(on(&url), on("rigor-demo.db"), "{view:?}");
    }

    // The central store's own first_pass_yield view counts as `rigor results yield` does.
    let out = rigor(
        dir.path(),
        &[
            "results",
            "yield",
            "--by",
            "generation",
            "--store",
            &url,
            "--format",
            "json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut from_results: Vec<String> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{}|{}",
                r["scenario"].as_str().unwrap(),
                r["group"].as_str().unwrap(),
                r["judged"],
                r["first_pass"],
                r["final_pass"],
                r["infrastructure_runs"]
            )
        })
        .collect();
    from_results.sort();
    let from_view = cluster
        .psql(
            "SELECT scenario_name, generation, judged, first_pass, final_pass, \
             infrastructure_runs FROM first_pass_yield ORDER BY 1, 2",
        )
        .unwrap();
    assert_eq!(from_view.lines().collect::<Vec<_>>(), from_results);

    // A second station (of the same name) tests the same units: the central store numbers
    // FC2-000201's smoke attempts across both, and tells the two stations apart.
    let other = tempfile::tempdir().unwrap();
    let station_url = format!("postgres://line1@127.0.0.1:{}/rigor", cluster.port());
    let out = rigor(other.path(), &["demo", "--central", &station_url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = rigor(
        dir.path(),
        &[
            "results",
            "unit",
            "FC2-000201",
            "--store",
            &url,
            "--scenario",
            "smoke",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let unit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let attempts: Vec<(u64, String)> = unit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["run"]["attempt"].as_u64().unwrap(),
                a["run"]["station"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Two failed attempts at the first station (the demo ran twice there), then the second's.
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        [1, 2, 3],
        "{attempts:?}"
    );
    assert_eq!(attempts[0].1, attempts[1].1);
    assert_ne!(attempts[1].1, attempts[2].1, "{attempts:?}");
    assert!(attempts[2].1.starts_with("sim-1@"), "{attempts:?}");
    let out = rigor(
        dir.path(),
        &["central", "history", "--url", &url, "--unit", "FC2-000201"],
    );
    assert!(
        text(&out).starts_with("unit FC2-000201 (fridge-ctl gen2): 9 runs at 2 stations\n"),
        "{}",
        text(&out)
    );

    // A login the server refuses is the central store's error, exit 8, with PostgreSQL's reason.
    let wrong = format!("postgres://quality:nope@127.0.0.1:{}/rigor", cluster.port());
    let out = rigor(dir.path(), &["results", "retest", "--store", &wrong]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(
        text(&out).contains("password authentication failed"),
        "{}",
        text(&out)
    );
}

/// A view's JSON without its run ids, which each store numbers its own way.
fn without_run_ids(json: &str) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("id");
                map.remove("run_id");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    strip(&mut value);
    value
}

#[test]
fn a_push_killed_again_and_again_then_finished_leaves_the_central_store_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, url) = central(dir.path());
    let path = dir.path().join("station.db");
    {
        let mut store = Store::open(&path).unwrap();
        Synthetic {
            station: "line1".into(),
            serial_prefix: "FC".into(),
            units: 700,
            runs: 4000,
            start: Timestamp(1_700_000_000_000_000),
            per_commit: 500,
            last_open: true,
        }
        .fill(&mut store)
        .unwrap();
    }
    let mut kills = 0;
    for i in 0..20 {
        let before = central_runs(&cluster);
        let mut child = Command::new(env!("CARGO_BIN_EXE_rigor"))
            .current_dir(dir.path())
            .args(["store", "push", "--store", "station.db", "--to", &url])
            .args(["--batch", "40"])
            .env("RIGOR_CENTRAL_PASSWORD", STATION_PW)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at varied moments: some pushes are killed before their first commit, most after
        // some batches, mid-COPY or between the central commit and the station's mark.
        let deadline = Instant::now() + Duration::from_secs(60);
        let wait_for = (i % 4) * 40;
        while central_runs(&cluster) < before + wait_for {
            assert!(Instant::now() < deadline, "the push made no progress");
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 18, "only {kills} pushes were killed");
    assert!(central_runs(&cluster) < 4000);
    let out = rigor(
        dir.path(),
        &["store", "push", "--store", "station.db", "--to", &url],
    );
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&path).unwrap();
    assert_same(&cluster, &store);
    let status = store
        .forward_status(&format!("postgres://127.0.0.1:{}/rigor", cluster.port()))
        .unwrap();
    assert_eq!((status.pending, status.open), (0, 1));
}

#[test]
fn push_errors_are_clear_and_exit_8_and_status_shows_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cluster, url) = central(dir.path());
    Store::open(dir.path().join("rigor.db")).unwrap();
    let wrong = format!("postgres://line1:nope@127.0.0.1:{}/rigor", cluster.port());
    let out = rigor(dir.path(), &["store", "push", "--to", &wrong]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("password authentication failed for user \"line1\""),
        "{}",
        text(&out)
    );

    cluster.stop().unwrap();
    let out = rigor(
        dir.path(),
        &["store", "push", "--to", &url, "--give-up-after", "1s"],
    );
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    let status = text(&rigor(dir.path(), &["store", "status"]));
    let target = format!("postgres://127.0.0.1:{}/rigor", cluster.port());
    assert!(
        status.contains(&format!(
            "cannot connect to the central store {target}: error connecting to server: \
             Connection refused"
        )),
        "{status}"
    );
}
