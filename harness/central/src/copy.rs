//! Binary `COPY` of exported rows: each table's columns listed once, each with its PostgreSQL
//! type and where a row's value is, so a column's name, type and value cannot drift apart (the
//! record tables and the staging tables take the same columns under the same names).

use futures_util::pin_mut;
use rigor_store::{ExportArtifact, ExportMeasurement, ExportRun, ExportStep};
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::error::CentralError;

/// A value `COPY` writes.
pub(crate) type Value<'a> = &'a (dyn ToSql + Sync);

/// A column `COPY` writes: its name, its PostgreSQL type and where each row's value is.
pub(crate) struct Column<R> {
    name: &'static str,
    ty: Type,
    value: fn(&R) -> Value<'_>,
}

const fn col<R>(name: &'static str, ty: Type, value: fn(&R) -> Value<'_>) -> Column<R> {
    Column { name, ty, value }
}

/// A column whose value is the same in every row (the forwarding station's id).
pub(crate) struct Fixed<'a> {
    pub(crate) name: &'static str,
    pub(crate) ty: Type,
    pub(crate) value: Value<'a>,
}

/// The run's key, first in `runs`, `run_ends` and `stage_runs`.
pub(crate) const RUN_KEY: &[Column<ExportRun>] = &[col("run_uuid", Type::UUID, |r| &r.uuid)];

/// What `runs` holds of a run besides its key and its station's id.
pub(crate) const RUN: &[Column<ExportRun>] = &[
    col("station_run_id", Type::INT8, |r| &r.id.0),
    col("unit_serial", Type::TEXT, |r| &r.unit_serial),
    col("scenario_name", Type::TEXT, |r| &r.scenario_name),
    col("scenario_version", Type::TEXT, |r| &r.scenario_version),
    col("scenario_sha256", Type::TEXT, |r| &r.scenario_sha256),
    col("station_attempt", Type::INT8, |r| &r.attempt),
    col("station", Type::TEXT, |r| &r.station),
    col("rig", Type::TEXT, |r| &r.rig),
    col("slot", Type::TEXT, |r| &r.slot),
    col("fixture_id", Type::TEXT, |r| &r.fixture_id),
    col("fixture_insertions", Type::INT8, |r| &r.fixture_insertions),
    col("operator", Type::TEXT, |r| &r.operator),
    col("firmware_sha256", Type::TEXT, |r| &r.firmware_sha256),
    col("firmware_version", Type::TEXT, |r| &r.firmware_version),
    col("limits_sha256", Type::TEXT, |r| &r.limits_sha256),
    col("started_at_us", Type::INT8, |r| &r.started_at_us),
];

/// The run's unit, which staging carries beside the run (`units` is merged from it).
pub(crate) const RUN_UNIT: &[Column<ExportRun>] = &[
    col("family", Type::TEXT, |r| &r.family),
    col("generation", Type::TEXT, |r| &r.generation),
    col("unit_first_seen_us", Type::INT8, |r| &r.unit_first_seen_us),
];

/// The run's end: `run_ends` takes it from ended runs only; staging carries NULLs for a run
/// still going.
pub(crate) const RUN_END: &[Column<ExportRun>] = &[
    col("ended_at_us", Type::INT8, |r| match &r.end {
        Some(e) => &e.ended_at_us,
        None => &None::<i64>,
    }),
    col("outcome", Type::TEXT, |r| match &r.end {
        Some(e) => &e.outcome,
        None => &None::<String>,
    }),
    col("failure_class", Type::TEXT, |r| match &r.end {
        Some(e) => &e.failure_class,
        None => &None::<String>,
    }),
    col("message", Type::TEXT, |r| match &r.end {
        Some(e) => &e.message,
        None => &None::<String>,
    }),
];

/// `steps` and `stage_steps`.
pub(crate) const STEP: &[Column<ExportStep>] = &[
    col("run_uuid", Type::UUID, |s| &s.run),
    col("step_index", Type::INT8, |s| &s.step_index),
    col("step_id", Type::TEXT, |s| &s.step_id),
    col("kind", Type::TEXT, |s| &s.kind),
    col("attempt", Type::INT8, |s| &s.attempt),
    col("started_at_us", Type::INT8, |s| &s.started_at_us),
    col("ended_at_us", Type::INT8, |s| &s.ended_at_us),
    col("outcome", Type::TEXT, |s| &s.outcome),
    col("message", Type::TEXT, |s| &s.message),
];

/// `measurements` and `stage_measurements`.
pub(crate) const MEASUREMENT: &[Column<ExportMeasurement>] = &[
    col("run_uuid", Type::UUID, |m| &m.run),
    col("seq", Type::INT8, |m| &m.seq),
    col("step_index", Type::INT8, |m| &m.step_index),
    col("name", Type::TEXT, |m| &m.name),
    col("value", Type::FLOAT8, |m| &m.value),
    col("text_value", Type::TEXT, |m| &m.text_value),
    col("unit", Type::TEXT, |m| &m.unit),
    col("comparator", Type::TEXT, |m| &m.comparator),
    col("low", Type::FLOAT8, |m| &m.low),
    col("low_inclusive", Type::BOOL, |m| &m.low_inclusive),
    col("high", Type::FLOAT8, |m| &m.high),
    col("high_inclusive", Type::BOOL, |m| &m.high_inclusive),
    col("marginal_low", Type::FLOAT8, |m| &m.marginal_low),
    col("marginal_high", Type::FLOAT8, |m| &m.marginal_high),
    col("marginal", Type::BOOL, |m| &m.marginal),
    col("outcome", Type::TEXT, |m| &m.outcome),
    col("measured_at_us", Type::INT8, |m| &m.measured_at_us),
];

/// `run_artifacts` and `stage_artifacts` (the links; blobs go separately).
pub(crate) const ARTIFACT: &[Column<ExportArtifact>] = &[
    col("run_uuid", Type::UUID, |a| &a.run),
    col("link_id", Type::INT8, |a| &a.link_id),
    col("step_index", Type::INT8, |a| &a.step_index),
    col("name", Type::TEXT, |a| &a.name),
    col("media_type", Type::TEXT, |a| &a.media_type),
    col("sha256", Type::TEXT, |a| &a.sha256),
];

/// A blob the central store lacks, by its SHA-256, into `stage_blobs`.
pub(crate) const BLOB: &[Column<(String, Vec<u8>)>] = &[
    col("sha256", Type::TEXT, |b| &b.0),
    col("content", Type::BYTEA, |b| &b.1),
];

/// Streams `rows` into `table` with binary `COPY`: the `fixed` columns, then each group of
/// `columns` in order.
pub(crate) async fn copy<'r, R: 'r>(
    tx: &Transaction<'_>,
    table: &str,
    fixed: &[Fixed<'_>],
    columns: &[&[Column<R>]],
    rows: impl Iterator<Item = &'r R>,
) -> Result<(), CentralError> {
    let columns: Vec<&Column<R>> = columns.iter().flat_map(|group| group.iter()).collect();
    let names: Vec<&str> = fixed
        .iter()
        .map(|f| f.name)
        .chain(columns.iter().map(|c| c.name))
        .collect();
    let types: Vec<Type> = fixed
        .iter()
        .map(|f| f.ty.clone())
        .chain(columns.iter().map(|c| c.ty.clone()))
        .collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .await
        .map_err(CentralError::pg("start a COPY"))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let mut values: Vec<Value<'_>> = Vec::with_capacity(types.len());
    for row in rows {
        values.clear();
        values.extend(fixed.iter().map(|f| f.value));
        values.extend(columns.iter().map(|c| (c.value)(row)));
        writer
            .as_mut()
            .write(&values)
            .await
            .map_err(CentralError::pg("COPY a row"))?;
    }
    writer
        .finish()
        .await
        .map_err(CentralError::pg("finish a COPY"))?;
    Ok(())
}
