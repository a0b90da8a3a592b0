//! Reliability through rigor's own impairment proxies between station and database: 10 000 runs
//! forwarded while the link loses packets, is partitioned for seconds and is reset mid-COPY.
//! Afterwards the central store holds exactly what the station holds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::time::{Duration, Instant};

use common::{Central, assert_same, count, fast_options, station_store};
use rigor_central::{CentralConfig, Forwarder};
use rigor_drivers::net_proxy::ImpairmentProxy;
use rigor_hal::{Impairment, NetImpairment};
use rigor_netfault::toxiproxy::{Toxic, ToxicProxy};
use rigor_store::Store;

fn toxic(json: serde_json::Value) -> Toxic {
    Toxic::create(serde_json::from_value(json).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_runs_through_loss_partitions_and_resets_arrive_exactly_once() {
    let central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = station_store(dir.path(), "line1", 10_000, 1500, 1_700_000_000);

    // station → resets (toxiproxy-compatible proxy) → loss and partitions → PostgreSQL
    let lossy = ImpairmentProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        format!("127.0.0.1:{}", central.cluster.port()),
    )
    .await
    .unwrap();
    let resets = ToxicProxy::start("127.0.0.1:0", &lossy.local_addr().to_string())
        .await
        .unwrap();
    let url = central.url_as("line1", common::STATION_PASSWORD).replace(
        &format!(":{}/", central.cluster.port()),
        &format!(":{}/", resets.listen().port()),
    );
    let station = CentralConfig::parse(&url).unwrap();
    let mut options = fast_options();
    options.batch_runs = 250;
    options.batch_timeout = Duration::from_secs(8);
    let forwarder = Forwarder::spawn(path.clone(), station.clone(), options).unwrap();

    let deadline = Instant::now() + Duration::from_secs(600);
    let mut faults = 0;
    // Three rounds of faults while forwarding goes on, then a clear link to finish on.
    while faults < 3 {
        // Loss: every chunk has a 20 % chance of a retransmission stall.
        lossy
            .apply(&Impairment {
                loss_percent: Some(20.0),
                ..Impairment::default()
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // A partition longer than nothing, shorter than the batch deadline.
        lossy
            .apply(&Impairment {
                partition: true,
                ..Impairment::default()
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        lossy.clear().await.unwrap();
        // Resets: every connection is cut (RST) 400 ms after it opens, and one that carries
        // more than 200 kB is closed mid-stream, in the middle of a COPY.
        resets.set_toxics(|t| {
            t.push(toxic(serde_json::json!({
                "name": "rst", "type": "reset_peer", "stream": "upstream",
                "attributes": { "timeout": 400 }
            })));
            t.push(toxic(serde_json::json!({
                "name": "cut", "type": "limit_data", "stream": "upstream",
                "attributes": { "bytes": 200_000 }
            })));
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        resets.set_toxics(Vec::clear);
        tokio::time::sleep(Duration::from_secs(2)).await;
        faults += 1;
    }
    while count(&central, "run_ends").await < 9_999 {
        assert!(Instant::now() < deadline, "forwarding did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = tokio::task::spawn_blocking(move || forwarder.stop(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(report.failures >= 3, "{report:?}");
    let store = Store::open(&path).unwrap();
    let status = store.forward_status(station.target()).unwrap();
    assert_eq!((status.pending, status.open), (0, 1), "{status:?}");
    assert_same(&central, &store).await;
    assert_eq!(count(&central, "runs").await, 10_000);
}
