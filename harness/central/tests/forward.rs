//! Forwarding into a real PostgreSQL: exact, idempotent, resumable, several stations at once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::time::{Duration, Instant};

use common::{Central, assert_same, count, fast_options, station_store};
use rigor_central::{Forwarder, push};
use rigor_store::Store;

#[tokio::test(flavor = "current_thread")]
async fn forwarded_rows_equal_the_station_and_a_second_push_adds_nothing() {
    let central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = station_store(dir.path(), "line1", 250, 40, 1_700_000_000);
    let mut store = Store::open(&path).unwrap();
    let station = central.station();

    let report = push(
        &mut store,
        &station,
        &fast_options(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    // 249 ended runs marked; the open one sent as it is.
    assert_eq!(report.marked, 249);
    assert_eq!(report.failures, 0);
    // One log in ten is the same content: sent once.
    assert_eq!(report.blobs, 225 + 1);
    assert_same(&central, &store).await;
    let status = store.forward_status(station.target()).unwrap();
    assert_eq!((status.pending, status.open), (0, 1));

    let before = count(&central, "measurements").await;
    let again = push(
        &mut store,
        &station,
        &fast_options(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!((again.marked, again.blobs, again.runs), (0, 0, 1));
    assert_eq!(count(&central, "measurements").await, before);
    assert_eq!(count(&central, "runs").await, 250);
    assert_same(&central, &store).await;
}

/// The open run is sent as far as it has got, and again once it has ended.
#[tokio::test(flavor = "current_thread")]
async fn an_open_run_is_completed_centrally_once_it_ends() {
    let central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = station_store(dir.path(), "line1", 3, 3, 1_700_000_000);
    let mut store = Store::open(&path).unwrap();
    let station = central.station();
    push(
        &mut store,
        &station,
        &fast_options(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(count(&central, "run_ends").await, 2);

    let open = rigor_store::RunId(3);
    store
        .end_run(
            open,
            &rigor_store::RunEnd {
                ended_at: rigor_store::Timestamp(1),
                outcome: rigor_store::RunOutcome::Aborted,
                failure_class: None,
                message: Some("operator stopped".into()),
            },
        )
        .unwrap();
    let report = push(
        &mut store,
        &station,
        &fast_options(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(report.marked, 1);
    assert_eq!(count(&central, "run_ends").await, 3);
    assert_same(&central, &store).await;
}

/// PostgreSQL restarted (fast shutdown: open transactions rolled back) twice while a background
/// forwarder sends batches; it reconnects and the result is exact.
#[tokio::test(flavor = "current_thread")]
async fn a_background_forwarder_survives_postgres_restarts_mid_batch() {
    let mut central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = station_store(dir.path(), "line1", 2000, 300, 1_700_000_000);
    let station = central.station();
    let mut options = fast_options();
    options.batch_runs = 50;
    let forwarder = Forwarder::spawn(path.clone(), station.clone(), options).unwrap();

    for _ in 0..2 {
        // Restart once forwarding is under way, not before it began.
        let deadline = Instant::now() + Duration::from_secs(60);
        let start = count(&central, "runs").await;
        while count(&central, "runs").await <= start + 50 {
            assert!(Instant::now() < deadline, "forwarding made no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        central.cluster.restart().unwrap();
    }
    let report = tokio::task::spawn_blocking(move || forwarder.stop(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(report.failures >= 1, "{report:?}");
    let store = Store::open(&path).unwrap();
    let status = store.forward_status(station.target()).unwrap();
    assert_eq!(status.pending, 0, "{status:?}");
    assert_same(&central, &store).await;
}

/// Eight stations forward at once; their units overlap. Nothing is lost or doubled, and each
/// unit's attempts are numbered across stations by start time.
#[tokio::test(flavor = "current_thread")]
async fn several_stations_at_once_with_overlapping_units() {
    let central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..8)
        // The same start times at every station: each unit is on four stations at once.
        .map(|i| station_store(dir.path(), &format!("line{i}"), 300, 20, 1_700_000_000))
        .collect();
    let station = central.station();
    let mut tasks = Vec::new();
    for path in paths.clone() {
        let station = station.clone();
        tasks.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut store = Store::open(&path).unwrap();
            runtime
                .block_on(push(
                    &mut store,
                    &station,
                    &fast_options(),
                    Duration::from_secs(60),
                ))
                .unwrap()
        }));
    }
    for task in tasks {
        task.join().unwrap();
    }
    for path in &paths {
        assert_same(&central, &Store::open(path).unwrap()).await;
    }
    assert_eq!(count(&central, "runs").await, 2400);
    assert_eq!(count(&central, "stations").await, 8);
    assert_eq!(count(&central, "units").await, 20);

    let analyst = central.analyst().connect().await.unwrap();
    // Attempts per unit × scenario run 1..=n without gaps, in start-time order.
    let bad: i64 = analyst
        .query_one(
            "SELECT count(*) FROM (
                 SELECT attempt, row_number() OVER w AS expected,
                        started_at_us, lag(started_at_us) OVER w AS previous
                 FROM run_history
                 WINDOW w AS (PARTITION BY unit_serial, scenario_name ORDER BY attempt)) AS x
             WHERE attempt <> expected OR started_at_us < previous",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bad, 0);
    let per_unit: i64 = analyst
        .query_one(
            "SELECT max(attempt) FROM run_history WHERE unit_serial = 'FC-000000' \
             AND scenario_name = 'smoke'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // 300 runs over 20 units: 15 per unit per station, all smoke for this unit (even runs).
    assert_eq!(per_unit, 8 * 15);
    // The stations tested the same units at the same times: reported, not merged.
    let overlaps: i64 = analyst
        .query_one("SELECT count(*) FROM overlapping_runs", &[])
        .await
        .unwrap()
        .get(0);
    assert!(overlaps > 0);
}

/// Two stations say one serial is of two generations: `units` keeps the first word, and
/// `unit_disagreements` shows both stations' claims instead of settling it silently.
#[tokio::test(flavor = "current_thread")]
async fn stations_that_disagree_on_a_units_generation_are_reported() {
    let central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let station = central.station();
    for (name, generation, at) in [
        ("line1", "gen2", 1_700_000_000),
        ("repair", "gen3", 1_700_000_100),
    ] {
        let path = dir.path().join(format!("{name}.db"));
        let mut store = Store::open(&path).unwrap();
        let synthetic = rigor_store::synthetic::Synthetic {
            station: name.to_owned(),
            serial_prefix: "FC".to_owned(),
            units: 1,
            runs: 1,
            start: rigor_store::Timestamp(at * 1_000_000),
            per_commit: 1,
            last_open: false,
        };
        let mut start = synthetic.run_start(7, 0, at * 1_000_000);
        start.unit.generation = generation.to_owned();
        let mut batch = store.batch().unwrap();
        batch.begin_run(&start).unwrap();
        batch.commit().unwrap();
        push(
            &mut store,
            &station,
            &fast_options(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    }
    let analyst = central.analyst().connect().await.unwrap();
    let claims: Vec<(String, String, bool)> = analyst
        .query(
            "SELECT station, generation, as_units_holds FROM unit_disagreements \
             WHERE serial = 'FC-000007' ORDER BY first_seen_us, station",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        claims,
        [
            ("line1".to_owned(), "gen2".to_owned(), true),
            ("repair".to_owned(), "gen3".to_owned(), false),
        ]
    );
    // A station agreeing with itself is no disagreement.
    let others: i64 = analyst
        .query_one(
            "SELECT count(*) FROM unit_disagreements WHERE serial <> 'FC-000007'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(others, 0);
}
