//! A real PostgreSQL cluster with the central schema, station and analyst logins, and station
//! stores filled with synthetic runs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test files

use std::path::{Path, PathBuf};
use std::time::Duration;

use rigor_central::{CentralConfig, ForwardOptions};
use rigor_pg_cluster::Cluster;
use rigor_store::synthetic::Synthetic;
use rigor_store::{Store, Timestamp};

pub const STATION_PASSWORD: &str = "station-pw";
pub const ANALYST_PASSWORD: &str = "analyst-pw";

pub struct Central {
    pub cluster: Cluster,
}

impl Central {
    /// A cluster whose database `rigor` is migrated, with logins `line1` (rigor_station) and
    /// `quality` (rigor_analyst).
    pub async fn start() -> Self {
        let cluster = Cluster::start().unwrap();
        let owner = CentralConfig::parse(&cluster.superuser_url()).unwrap();
        let mut client = owner.connect().await.unwrap();
        rigor_central::migrate(&mut client, owner.target())
            .await
            .unwrap();
        cluster
            .psql(&format!(
                "CREATE ROLE line1 LOGIN PASSWORD '{STATION_PASSWORD}' IN ROLE rigor_station;
                 CREATE ROLE quality LOGIN PASSWORD '{ANALYST_PASSWORD}' IN ROLE rigor_analyst;"
            ))
            .unwrap();
        Central { cluster }
    }

    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/rigor",
            self.cluster.port()
        )
    }

    pub fn station(&self) -> CentralConfig {
        CentralConfig::parse(&self.url_as("line1", STATION_PASSWORD)).unwrap()
    }

    pub fn analyst(&self) -> CentralConfig {
        CentralConfig::parse(&self.url_as("quality", ANALYST_PASSWORD)).unwrap()
    }

    pub fn owner(&self) -> CentralConfig {
        CentralConfig::parse(&self.cluster.superuser_url()).unwrap()
    }
}

/// A station store in `dir` with `runs` synthetic runs over `units` units.
pub fn station_store(dir: &Path, name: &str, runs: usize, units: usize, start_s: i64) -> PathBuf {
    let path = dir.join(format!("{name}.db"));
    let mut store = Store::open(&path).unwrap();
    Synthetic {
        station: name.to_owned(),
        serial_prefix: "FC".to_owned(),
        units,
        runs,
        start: Timestamp(start_s * 1_000_000),
        per_commit: 200,
        last_open: true,
    }
    .fill(&mut store)
    .unwrap();
    path
}

/// Quick retries, so tests of failures take seconds.
pub fn fast_options() -> ForwardOptions {
    ForwardOptions {
        batch_runs: 100,
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        poll: Duration::from_millis(50),
        batch_timeout: Duration::from_secs(20),
        ..ForwardOptions::default()
    }
}

/// Asserts that the central store holds exactly what `store` holds, row for row (blobs too),
/// reading as the analyst.
pub async fn assert_same(central: &Central, store: &Store) {
    let client = central.analyst().connect().await.unwrap();
    let all: Vec<_> = (1..=i64::MAX)
        .map(rigor_store::RunId)
        .take_while(|id| store.run_uuid(*id).is_ok())
        .collect();
    let mut local = store.export_runs(&all).unwrap();
    let remote = rigor_central::read::station_export(&client, store.station_id().unwrap())
        .await
        .unwrap();
    // The central store keeps a unit's first sighting by any station.
    for (l, r) in local.runs.iter_mut().zip(&remote.runs) {
        l.unit_first_seen_us = r.unit_first_seen_us;
    }
    assert_eq!(remote.runs.len(), local.runs.len(), "runs");
    assert_eq!(remote.steps.len(), local.steps.len(), "steps");
    assert_eq!(
        remote.measurements.len(),
        local.measurements.len(),
        "measurements"
    );
    assert_eq!(remote.artifacts.len(), local.artifacts.len(), "artifacts");
    assert!(remote == local, "central and station rows differ");
    for artifact in &local.artifacts {
        assert_eq!(
            rigor_central::read::blob(&client, &artifact.sha256)
                .await
                .unwrap(),
            store.artifact_content(&artifact.sha256).unwrap()
        );
    }
}

/// Rows in a central table (as the owner).
pub async fn count(central: &Central, table: &str) -> i64 {
    let client = central.owner().connect().await.unwrap();
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}
