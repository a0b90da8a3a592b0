//! Sending one batch of runs: binary `COPY` into temporary staging tables, then
//! `INSERT … SELECT … ON CONFLICT DO NOTHING` into the record tables, all in one transaction.
//! `COPY` is the fastest way into PostgreSQL but cannot skip rows that are already there; the
//! staging step lets a resent batch (after a crash between the central commit and the station's
//! mark, or a run sent again as it grows) insert only what is new.

use futures_util::pin_mut;
use rigor_store::{Export, Store};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

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

/// Parents first; ordering units by serial keeps two stations inserting the same units from
/// locking them in opposite orders (a deadlock).
const MERGE: &str = "
INSERT INTO units (serial, family, generation, first_seen_us)
SELECT DISTINCT ON (unit_serial) unit_serial, family, generation, unit_first_seen_us
FROM stage_runs ORDER BY unit_serial
ON CONFLICT DO NOTHING;
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
INSERT INTO artifact_blobs (sha256, size, content)
SELECT sha256, octet_length(content), content FROM stage_blobs
ON CONFLICT DO NOTHING;
INSERT INTO run_artifacts SELECT * FROM stage_artifacts ON CONFLICT DO NOTHING;
";

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
    let tx = client
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
    copy_rows(&tx, export, "stage_").await?;
    let blobs = copy_missing_blobs(&tx, store, export).await?;
    tx.batch_execute(MERGE)
        .await
        .map_err(CentralError::pg("insert the staged rows"))?;
    tx.commit()
        .await
        .map_err(CentralError::pg("commit a batch"))?;
    Ok(Sent {
        runs: export.runs.len(),
        rows: export.rows(),
        blobs,
    })
}

/// Streams an export's runs (with their ends), steps, measurements and artifact links with
/// binary `COPY` into `{prefix}runs`, `{prefix}steps`, `{prefix}measurements` and
/// `{prefix}artifacts`, shaped as [`STAGING_TABLES`] shapes them. Forwarding stages with it; the
/// benchmark uses it for its raw-`COPY` yardstick.
pub async fn copy_rows(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    copy_runs(tx, export, prefix).await?;
    copy_steps(tx, export, prefix).await?;
    copy_measurements(tx, export, prefix).await?;
    copy_artifacts(tx, export, prefix).await
}

/// Streams `rows` into `table` with binary `COPY`.
async fn copy<'r>(
    tx: &Transaction<'_>,
    table: &str,
    types: &[Type],
    rows: impl Iterator<Item = Vec<&'r (dyn ToSql + Sync)>>,
) -> Result<(), CentralError> {
    let sink = tx
        .copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
        .await
        .map_err(CentralError::pg("start a COPY"))?;
    let writer = BinaryCopyInWriter::new(sink, types);
    pin_mut!(writer);
    for row in rows {
        writer
            .as_mut()
            .write(&row)
            .await
            .map_err(CentralError::pg("COPY a row"))?;
    }
    writer
        .finish()
        .await
        .map_err(CentralError::pg("finish a COPY"))?;
    Ok(())
}

async fn copy_runs(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    use Type as T;
    let types = [
        T::UUID,
        T::INT8,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::INT8,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::INT8,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::INT8,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::INT8,
        T::INT8,
        T::TEXT,
        T::TEXT,
        T::TEXT,
    ];
    let rows = export.runs.iter().map(|r| {
        let end = r.end.as_ref();
        let row: Vec<&(dyn ToSql + Sync)> = vec![
            &r.uuid,
            &r.id.0,
            &r.unit_serial,
            &r.family,
            &r.generation,
            &r.unit_first_seen_us,
            &r.scenario_name,
            &r.scenario_version,
            &r.scenario_sha256,
            &r.attempt,
            &r.station,
            &r.rig,
            &r.slot,
            &r.fixture_id,
            &r.fixture_insertions,
            &r.operator,
            &r.firmware_sha256,
            &r.firmware_version,
            &r.limits_sha256,
            &r.started_at_us,
            match end {
                Some(e) => &e.ended_at_us,
                None => &None::<i64>,
            },
            match end {
                Some(e) => &e.outcome,
                None => &None::<String>,
            },
            match end {
                Some(e) => &e.failure_class,
                None => &None::<String>,
            },
            match end {
                Some(e) => &e.message,
                None => &None::<String>,
            },
        ];
        row
    });
    copy(tx, &format!("{prefix}runs"), &types, rows).await
}

async fn copy_steps(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    use Type as T;
    let types = [
        T::UUID,
        T::INT8,
        T::TEXT,
        T::TEXT,
        T::INT8,
        T::INT8,
        T::INT8,
        T::TEXT,
        T::TEXT,
    ];
    let rows = export.steps.iter().map(|s| {
        let row: Vec<&(dyn ToSql + Sync)> = vec![
            &s.run,
            &s.step_index,
            &s.step_id,
            &s.kind,
            &s.attempt,
            &s.started_at_us,
            &s.ended_at_us,
            &s.outcome,
            &s.message,
        ];
        row
    });
    copy(tx, &format!("{prefix}steps"), &types, rows).await
}

async fn copy_measurements(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    use Type as T;
    let types = [
        T::UUID,
        T::INT8,
        T::INT8,
        T::TEXT,
        T::FLOAT8,
        T::TEXT,
        T::TEXT,
        T::TEXT,
        T::FLOAT8,
        T::BOOL,
        T::FLOAT8,
        T::BOOL,
        T::FLOAT8,
        T::FLOAT8,
        T::BOOL,
        T::TEXT,
        T::INT8,
    ];
    let rows = export.measurements.iter().map(|m| {
        let row: Vec<&(dyn ToSql + Sync)> = vec![
            &m.run,
            &m.seq,
            &m.step_index,
            &m.name,
            &m.value,
            &m.text_value,
            &m.unit,
            &m.comparator,
            &m.low,
            &m.low_inclusive,
            &m.high,
            &m.high_inclusive,
            &m.marginal_low,
            &m.marginal_high,
            &m.marginal,
            &m.outcome,
            &m.measured_at_us,
        ];
        row
    });
    copy(tx, &format!("{prefix}measurements"), &types, rows).await
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
    let rows = blobs.iter().map(|(sha256, content)| {
        let row: Vec<&(dyn ToSql + Sync)> = vec![sha256, content];
        row
    });
    copy(tx, "stage_blobs", &[Type::TEXT, Type::BYTEA], rows).await?;
    Ok(blobs.len())
}

async fn copy_artifacts(
    tx: &Transaction<'_>,
    export: &Export,
    prefix: &str,
) -> Result<(), CentralError> {
    use Type as T;
    let types = [T::UUID, T::INT8, T::INT8, T::TEXT, T::TEXT, T::TEXT];
    let rows = export.artifacts.iter().map(|a| {
        let row: Vec<&(dyn ToSql + Sync)> = vec![
            &a.run,
            &a.link_id,
            &a.step_index,
            &a.name,
            &a.media_type,
            &a.sha256,
        ];
        row
    });
    copy(tx, &format!("{prefix}artifacts"), &types, rows).await
}
