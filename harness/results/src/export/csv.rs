//! CSV for JMP, Minitab and pandas: one tall table, a row per measurement with everything that
//! identifies it, and a table of the distinct limits. Empty cells are missing values; booleans
//! are `true`/`false`; times are RFC 3339 UTC.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::error::ResultsError;
use crate::render::csv_cell;
use crate::rows::{Measurement, Run, Runs};
use crate::source::Source;
use crate::timefmt;

/// The tall table's columns, in order.
pub const TALL_COLUMNS: &[&str] = &[
    "serial",
    "family",
    "generation",
    "scenario",
    "scenario_version",
    "attempt",
    "run_id",
    "station",
    "rig",
    "slot",
    "fixture",
    "operator",
    "firmware",
    "limits_sha256",
    "started_at",
    "run_outcome",
    "failure_class",
    "step_index",
    "measurement",
    "value",
    "text_value",
    "unit",
    "comparator",
    "low",
    "low_inclusive",
    "high",
    "high_inclusive",
    "marginal_low",
    "marginal_high",
    "marginal",
    "outcome",
    "measured_at",
];

/// The limits table's columns, in order.
pub const LIMITS_COLUMNS: &[&str] = &[
    "measurement",
    "limits_sha256",
    "unit",
    "comparator",
    "low",
    "low_inclusive",
    "high",
    "high_inclusive",
    "marginal_low",
    "marginal_high",
    "readings",
];

/// What a CSV export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvSummary {
    /// Rows of the tall table.
    pub rows: u64,
    /// Rows of the limits table.
    pub limits: u64,
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn line(out: &mut impl Write, cells: &[String]) -> std::io::Result<()> {
    let quoted: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
    out.write_all(quoted.join(",").as_bytes())?;
    out.write_all(b"\n")
}

fn tall_row(run: &Run, m: &Measurement) -> Vec<String> {
    vec![
        run.serial.clone(),
        run.family.to_string(),
        run.generation.to_string(),
        run.scenario.to_string(),
        run.scenario_version.to_string(),
        run.attempt.to_string(),
        run.id.to_string(),
        run.station.to_string(),
        run.rig.to_string(),
        run.slot.to_string(),
        run.fixture.as_deref().unwrap_or("").to_owned(),
        run.operator.to_string(),
        run.firmware.as_deref().unwrap_or("").to_owned(),
        run.limits_sha256.to_string(),
        timefmt::instant(run.started_at_us),
        run.status.to_string(),
        run.failure_class.map(|c| c.to_string()).unwrap_or_default(),
        m.step_index.to_string(),
        m.name.to_string(),
        opt(m.value),
        m.text_value.clone().unwrap_or_default(),
        m.unit.as_deref().unwrap_or("").to_owned(),
        m.comparator.to_string(),
        opt(m.low),
        m.low_inclusive.to_string(),
        opt(m.high),
        m.high_inclusive.to_string(),
        opt(m.marginal_low),
        opt(m.marginal_high),
        m.marginal.to_string(),
        m.outcome.to_string(),
        timefmt::instant(m.measured_at_us),
    ]
}

/// Writes the tall table of `runs`' measurements to `tall` and their distinct limits (per
/// measurement × limit set) to `limits`.
pub fn export_csv(
    source: &dyn Source,
    runs: &Runs,
    mut tall: impl Write,
    mut limits: impl Write,
) -> Result<CsvSummary, ResultsError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| ResultsError::Write { what, source }
    };
    let header: Vec<String> = TALL_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    line(&mut tall, &header).map_err(io("csv table"))?;
    let mut rows = 0;
    let mut failed = None;
    let mut seen: BTreeMap<(String, String), (Measurement, u64)> = BTreeMap::new();
    source.for_each_measurement(runs, None, &mut |m| {
        let Some(run) = runs.get(m.run_id) else {
            return;
        };
        if failed.is_none()
            && let Err(e) = line(&mut tall, &tall_row(run, m))
        {
            failed = Some(e);
        }
        rows += 1;
        seen.entry((m.name.to_string(), run.limits_sha256.to_string()))
            .or_insert_with(|| (m.clone(), 0))
            .1 += 1;
    })?;
    if let Some(e) = failed {
        return Err(io("csv table")(e));
    }
    let header: Vec<String> = LIMITS_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    line(&mut limits, &header).map_err(io("csv limits"))?;
    for ((name, sha), (m, n)) in &seen {
        line(
            &mut limits,
            &[
                name.clone(),
                sha.clone(),
                m.unit.as_deref().unwrap_or("").to_owned(),
                m.comparator.to_string(),
                opt(m.low),
                m.low_inclusive.to_string(),
                opt(m.high),
                m.high_inclusive.to_string(),
                opt(m.marginal_low),
                opt(m.marginal_high),
                n.to_string(),
            ],
        )
        .map_err(io("csv limits"))?;
    }
    tall.flush().map_err(io("csv table"))?;
    limits.flush().map_err(io("csv limits"))?;
    Ok(CsvSummary {
        rows,
        limits: seen.len() as u64,
    })
}
