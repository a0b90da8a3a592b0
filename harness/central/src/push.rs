//! Sending one batch of runs, all in one transaction. Binary `COPY` is the fastest way into
//! PostgreSQL but cannot skip rows that are already there, and a batch may hold some: after a
//! crash between the central commit and the station's mark, or a run sent again as it grows. So a
//! batch first goes straight into the record tables with `COPY` under a savepoint (the common
//! case: every row is new); if any row is already there, the savepoint is rolled back and the
//! batch goes through temporary staging tables and `INSERT … SELECT … ON CONFLICT DO NOTHING`,
//! which inserts only what is new. Units, stations and blobs, which many runs share, are always
//! merged.

use rigor_store::{Export, Store};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use crate::copy::{
    ARTIFACT, BLOB, Fixed, MEASUREMENT, RUN, RUN_END, RUN_KEY, RUN_UNIT, STEP, copy,
};
use crate::error::CentralError;

/// Staging tables, created once per connection; their rows vanish at every commit or rollback.
pub const STAGING_TABLES: &str = "
CREATE TEMP TABLE IF NOT EXISTS stage_runs (
    run_uuid uuid, station_run_id bigint, unit_serial text, family text, generation text,
    unit_first_seen_us bigint, scenario_name text, scenario_version text, scenario_sha256 text,
    station_attempt bigint, station text, rig text, slot text, fixture_id text,
    fixture_insertions bigint, operator text, firmware_sha256 text, firmware_version text,
    limits_sha256 text, started_at_us bigint, ended_at_us bigint, outcome text,
    failure_class text, message text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_steps (
    run_uuid uuid, step_index bigint, step_id text, kind text, attempt bigint,
    started_at_us bigint, ended_at_us bigint, outcome text, message text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_measurements (
    run_uuid uuid, seq bigint, step_index bigint, name text, value double precision,
    text_value text, unit text, comparator text, low double precision, low_inclusive boolean,
    high double precision, high_inclusive boolean, marginal_low double precision,
    marginal_high double precision, marginal boolean, outcome text, measured_at_us bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_blobs (sha256 text, content bytea) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_artifacts (
    run_uuid uuid, link_id bigint, step_index bigint, name text, media_type text, sha256 text
) ON COMMIT DELETE ROWS;
";

/// The staged records into the record tables, parents first, skipping rows already there.
const MERGE: &str = "
INSERT INTO runs (run_uuid, station_id, station_run_id, unit_serial, scenario_name,
    scenario_version, scenario_sha256, station_attempt, station, rig, slot, fixture_id,
    fixture_insertions, operator, firmware_sha256, firmware_version, limits_sha256, started_at_us)
SELECT s.run_uuid, st.station_id, s.station_run_id, s.unit_serial, s.scenario_name,
    s.scenario_version, s.scenario_sha256, s.station_attempt, s.station, s.rig, s.slot,
    s.fixture_id, s.fixture_insertions, s.operator, s.firmware_sha256, s.firmware_version,
    s.limits_sha256, s.started_at_us
FROM stage_runs AS s CROSS JOIN stage_station AS st
ON CONFLICT DO NOTHING;
INSERT INTO run_ends (run_uuid, ended_at_us, outcome, failure_class, message)
SELECT run_uuid, ended_at_us, outcome, failure_class, message
FROM stage_runs WHERE ended_at_us IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO steps SELECT * FROM stage_steps ON CONFLICT DO NOTHING;
INSERT INTO measurements SELECT * FROM stage_measurements ON CONFLICT DO NOTHING;
INSERT INTO run_artifacts SELECT * FROM stage_artifacts ON CONFLICT DO NOTHING;
";

/// The batch's units, in serial order: two stations inserting the same units then lock them in
/// the same order (no deadlock).
const MERGE_UNITS: &str = "
INSERT INTO units (serial, family, generation, first_seen_us)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) ORDER BY 1
ON CONFLICT DO NOTHING";

/// What this station says each unit is, kept beside `units` (which keeps the first station's
/// word) so that stations that disagree are reported, not settled by who came first.
const MERGE_CLAIMS: &str = "
INSERT INTO unit_claims (serial, station_id, family, generation, first_seen_us)
SELECT u.serial, $5, u.family, u.generation, u.first_seen_us
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
    AS u (serial, family, generation, first_seen_us)
ORDER BY 1
ON CONFLICT DO NOTHING";

/// Prepares a fresh connection for [`send`].
pub(crate) async fn prepare(client: &Client) -> Result<(), CentralError> {
    client
        .batch_execute(STAGING_TABLES)
        .await
        .map_err(CentralError::pg("create the staging tables"))?;
    client
        .batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_station (station_id uuid, name text) \
             ON COMMIT DELETE ROWS",
        )
        .await
        .map_err(CentralError::pg("create the staging tables"))
}

/// What one batch sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Runs in the batch.
    pub runs: usize,
    /// Rows in the batch (runs, ends, steps, measurements, artifact links).
    pub rows: usize,
    /// Blobs the central store lacked and was sent.
    pub blobs: usize,
}

/// Sends `export` (read from `store`, which supplies the blobs) as one transaction.
pub(crate) async fn send(
    client: &mut Client,
    station: Uuid,
    store: &Store,
    export: &Export,
) -> Result<Sent, CentralError> {
    let Some(first) = export.runs.first() else {
        return Ok(Sent::default());
    };
    let mut tx = client
        .transaction()
        .await
        .map_err(CentralError::pg("begin a batch"))?;
    tx.execute(
        "INSERT INTO stage_station VALUES ($1, $2)",
        &[&station, &first.station],
    )
    .await
    .map_err(CentralError::pg("stage the station"))?;
    tx.execute(
        "INSERT INTO stations (station_id, name) SELECT station_id, name FROM stage_station \
         ON CONFLICT DO NOTHING",
        &[],
    )
    .await
    .map_err(CentralError::pg("record the station"))?;
    merge_units(&tx, station, export).await?;
    let blobs = copy_missing_blobs(&tx, store, export).await?;
    tx.batch_execute(
        "INSERT INTO artifact_blobs (sha256, size, content) \
         SELECT sha256, octet_length(content), content FROM stage_blobs ON CONFLICT DO NOTHING",
    )
    .await
    .map_err(CentralError::pg("insert the blobs"))?;
    if !copy_new_records(&mut tx, station, export).await? {
        copy_rows(&tx, export, "stage_").await?;
        tx.batch_execute(MERGE)
            .await
            .map_err(CentralError::pg("insert the staged rows"))?;
    }
    merge_sessions(&tx, export).await?;
    tx.commit()
        .await
        .map_err(CentralError::pg("commit a batch"))?;
    Ok(Sent {
        runs: export.runs.len(),
        rows: export.rows(),
        blobs,
    })
}

async fn merge_units(
    tx: &Transaction<'_>,
    station: Uuid,
    export: &Export,
) -> Result<(), CentralError> {
    let units: std::collections::BTreeMap<&str, _> = export
        .runs
        .iter()
        .map(|r| {
            let unit = (
                r.family.as_str(),
                r.generation.as_str(),
                r.unit_first_seen_us,
            );
            (r.unit_serial.as_str(), unit)
        })
        .collect();
    let serials: Vec<&str> = units.keys().copied().collect();
    let families: Vec<&str> = units.values().map(|u| u.0).collect();
    let generations: Vec<&str> = units.values().map(|u| u.1).collect();
    let first_seen: Vec<i64> = units.values().map(|u| u.2).collect();
    tx.execute(
        MERGE_UNITS,
        &[&serials, &families, &generations, &first_seen],
    )
    .await
    .map_err(CentralError::pg("record the units"))?;
    tx.execute(
        MERGE_CLAIMS,
        &[&serials, &families, &generations, &first_seen, &station],
    )
    .await
    .map_err(CentralError::pg(
        "record what the station says of its units",
    ))?;
    Ok(())
}

/// The runs' sessions, merged (not copied) after the runs: few runs have one, and a run sent
/// again as it grows carries its session again.
async fn merge_sessions(tx: &Transaction<'_>, export: &Export) -> Result<(), CentralError> {
    let sessions: Vec<_> = export
        .runs
        .iter()
        .filter_map(|r| r.session.as_ref().map(|s| (r.uuid, s)))
        .collect();
    if sessions.is_empty() {
        return Ok(());
    }
    let runs: Vec<Uuid> = sessions.iter().map(|(run, _)| *run).collect();
    let ids: Vec<&str> = sessions.iter().map(|(_, s)| s.id.as_str()).collect();
    let roles: Vec<&str> = sessions.iter().map(|(_, s)| s.role.as_str()).collect();
    tx.execute(
        "INSERT INTO run_sessions (run_uuid, session_id, role) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        &[&runs, &ids, &roles],
    )
    .await
    .map_err(CentralError::pg("record the runs' sessions"))?;
    Ok(())
}

/// The fast path: `COPY` the batch straight into the record tables under a savepoint. `false`
/// (the savepoint rolled back) when some row is already there, so the batch must be merged.
async fn copy_new_records(
    tx: &mut Transaction<'_>,
    station: Uuid,
    export: &Export,
) -> Result<bool, CentralError> {
    let fast = tx
        .savepoint("all_new")
        .await
        .map_err(CentralError::pg("begin a savepoint"))?;
    match copy_records(&fast, station, export).await {
        Ok(()) => {
            fast.commit()
                .await
                .map_err(CentralError::pg("release a savepoint"))?;
            Ok(true)
        }
        Err(e) if e.sql_state() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            fast.rollback()
                .await
                .map_err(CentralError::pg("roll back to a savepoint"))?;
            Ok(false)
        }
        // Dropping `fast` rolls back to the savepoint; the batch fails as a whole.
        Err(e) => Err(e),
    }
}

/// Streams an export's runs, ends, steps, measurements and artifact links with binary `COPY`
/// straight into the record tables (its station, units and blobs must be there already). Fails
/// on any row that is already there. Forwarding's fast path; the benchmark's second yardstick.
pub async fn copy_records(
    tx: &Transaction<'_>,
    station: Uuid,
    export: &Export,
) -> Result<(), CentralError> {
    let station = Fixed {
        name: "station_id",
        ty: Type::UUID,
        value: &station,
    };
    let runs = export.runs.iter();
    copy(tx, "runs", &[station], &[RUN_KEY, RUN], runs).await?;
    let ended = export.runs.iter().filter(|r| r.end.is_some());
    copy(tx, "run_ends", &[], &[RUN_KEY, RUN_END], ended).await?;
    copy_children(tx, export, "").await
}

/// Streams an export's runs (with their units and ends), steps, measurements and artifact links
/// with binary `COPY` into `{prefix}runs`, `{prefix}steps`, `{prefix}measurements` and
/// `{prefix}artifacts`, shaped as [`STAGING_TABLES`] shapes them. Forwarding stages with it; the
/// benchmark uses it for its raw-`COPY` yardstick.
pub async fn copy_rows(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    let runs = export.runs.iter();
    let columns = [RUN_KEY, RUN, RUN_UNIT, RUN_END];
    copy(tx, &format!("{prefix}runs"), &[], &columns, runs).await?;
    copy_children(tx, export, prefix).await
}

/// Steps, measurements and artifact links into `{prefix}steps`, `{prefix}measurements` and
/// `{prefix}artifacts` (the record tables' `run_artifacts` without a prefix).
async fn copy_children(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    let artifacts = match prefix {
        "" => "run_artifacts".to_owned(),
        prefix => format!("{prefix}artifacts"),
    };
    copy(
        tx,
        &format!("{prefix}steps"),
        &[],
        &[STEP],
        export.steps.iter(),
    )
    .await?;
    let measurements = export.measurements.iter();
    copy(
        tx,
        &format!("{prefix}measurements"),
        &[],
        &[MEASUREMENT],
        measurements,
    )
    .await?;
    copy(tx, &artifacts, &[], &[ARTIFACT], export.artifacts.iter()).await
}

/// Sends only the blobs the central store lacks: an artifact linked by many runs (a firmware
/// image, a shared calibration file) goes up once.
async fn copy_missing_blobs(
    tx: &Transaction<'_>,
    store: &Store,
    export: &Export,
) -> Result<usize, CentralError> {
    let mut wanted: Vec<&str> = export.artifacts.iter().map(|a| a.sha256.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(0);
    }
    let present: Vec<String> = tx
        .query(
            "SELECT sha256 FROM artifact_blobs WHERE sha256 = ANY($1)",
            &[&wanted],
        )
        .await
        .map_err(CentralError::pg("look up the blobs it holds"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut blobs = Vec::new();
    for sha256 in wanted {
        if present.iter().any(|p| p == sha256) {
            continue;
        }
        if let Some(content) = store.artifact_content(sha256)? {
            blobs.push((sha256.to_owned(), content));
        }
    }
    copy(tx, "stage_blobs", &[], &[BLOB], blobs.iter()).await?;
    Ok(blobs.len())
}
