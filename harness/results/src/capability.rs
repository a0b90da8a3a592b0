//! Process capability per measurement × generation × firmware × limit set.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::error::ResultsError;
use crate::rows::{Measurement, Runs};
use crate::source::Source;
use crate::stats::{Accumulator, normal_cdf};

/// Below this many readings a row is flagged: at n = 30 a Cpk of 1.33 is only known to about
/// ±0.36 (95 %), the difference between a capable process and one that is not.
pub const MIN_N: u64 = 30;

/// Capability of one measurement in one generation × firmware × limit set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityRow {
    /// Measurement name.
    pub measurement: String,
    /// Unit generation.
    pub generation: String,
    /// Firmware version (`-` when none was recorded).
    pub firmware: String,
    /// Limit set, first 12 digits of its SHA-256.
    pub limits: String,
    /// Unit symbol.
    pub unit: Option<String>,
    /// Lower specification limit.
    pub lsl: Option<f64>,
    /// Upper specification limit.
    pub usl: Option<f64>,
    /// Low edge of the marginal band.
    pub marginal_low: Option<f64>,
    /// High edge of the marginal band.
    pub marginal_high: Option<f64>,
    /// Numeric readings.
    pub n: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Sample standard deviation (long-term, behind Pp and Ppk).
    pub sigma_overall: Option<f64>,
    /// Mean moving range / 1.128, readings in recording order (short-term, behind Cp and Cpk).
    pub sigma_within: Option<f64>,
    /// (USL − LSL) / 6σ within; needs both limits.
    pub cp: Option<f64>,
    /// min(USL − mean, mean − LSL) / 3σ within, over the limits there are.
    pub cpk: Option<f64>,
    /// (USL − LSL) / 6σ overall.
    pub pp: Option<f64>,
    /// min(USL − mean, mean − LSL) / 3σ overall.
    pub ppk: Option<f64>,
    /// Approximate 95 % half-width of Cpk (Bissell: 1.96 √(1/(9n) + Cpk²/(2(n−1)))).
    pub cpk_ci95: Option<f64>,
    /// Readings outside the limits, as recorded, over n.
    pub observed_outside: f64,
    /// Fraction outside the limits a normal distribution with this mean and overall σ predicts.
    pub expected_outside: Option<f64>,
    /// Why the row should not be trusted, when it should not.
    pub warning: Option<String>,
}

/// The sums and the description (from its first reading) behind one row.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) acc: Accumulator,
    pub(crate) outside: u64,
    pub(crate) unit: Option<Arc<str>>,
    pub(crate) lsl: Option<f64>,
    pub(crate) usl: Option<f64>,
    pub(crate) marginal: (Option<f64>, Option<f64>),
}

/// The readings behind one capability row, in recording order (for its histogram).
pub fn readings_of(
    source: &dyn Source,
    runs: &Runs,
    row: &CapabilityRow,
) -> Result<Vec<f64>, ResultsError> {
    let mut values = Vec::new();
    source.for_each_reading(runs, Some(&row.measurement), &mut |r| {
        if let Some(run) = runs.at(r.run_position)
            && *run.generation == *row.generation
            && run.firmware.as_deref().unwrap_or("-") == row.firmware
            && run.limits_sha256.starts_with(&row.limits)
        {
            values.push(r.value);
        }
    })?;
    Ok(values)
}

/// Capability of every numeric measurement of `runs` (or only `name`), sorted by measurement,
/// generation, firmware and limit set.
pub fn capability(
    source: &dyn Source,
    runs: &Runs,
    name: Option<&str>,
) -> Result<Vec<CapabilityRow>, ResultsError> {
    let (sets, run_set) = number_sets(runs);
    let found = source.value_sums(runs, name, &run_set)?;
    // The unit, limits and marginal band of each group, from its first reading: the sums
    // leave them out of the millions of rows they fold. Groups share first runs (a new firmware
    // starts every measurement's group at once), so each run is read once.
    let mut described: HashMap<i64, Vec<Measurement>> = HashMap::new();
    let mut groups = Vec::with_capacity(found.len());
    for sums in found {
        let measurements = match described.entry(sums.first_run) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let one = Runs::new(runs.get(sums.first_run).into_iter().cloned().collect());
                e.insert(source.measurements(&one, name)?)
            }
        };
        let first = measurements
            .iter()
            .find(|m| m.name == sums.name && m.value.is_some());
        groups.push((
            sums.name,
            sums.set,
            Group {
                acc: sums.acc,
                outside: sums.outside,
                unit: first.and_then(|m| m.unit.clone()),
                lsl: first.and_then(|m| m.low),
                usl: first.and_then(|m| m.high),
                marginal: first.map_or((None, None), |m| (m.marginal_low, m.marginal_high)),
            },
        ));
    }
    let mut rows: Vec<CapabilityRow> = groups
        .iter()
        .map(|(measurement, set, g)| {
            let (generation, firmware, limits) = &sets[*set as usize];
            row(measurement, generation, firmware.as_deref(), limits, g)
        })
        .collect();
    sort(&mut rows);
    Ok(rows)
}

/// The views' row order: by measurement, generation, firmware and limit set.
pub(crate) fn sort(rows: &mut [CapabilityRow]) {
    rows.sort_by(|a, b| {
        (&a.measurement, &a.generation, &a.firmware, &a.limits).cmp(&(
            &b.measurement,
            &b.generation,
            &b.firmware,
            &b.limits,
        ))
    });
}

pub(crate) fn row(
    measurement: &str,
    generation: &str,
    firmware: Option<&str>,
    limits: &str,
    g: &Group,
) -> CapabilityRow {
    let n = g.acc.n;
    let mean = g.acc.mean();
    let so = g.acc.sigma_overall().filter(|s| *s > 0.0);
    let sw = g.acc.sigma_within().filter(|s| *s > 0.0);
    let spread = |s: Option<f64>| match (g.lsl, g.usl, s) {
        (Some(l), Some(u), Some(s)) => Some((u - l) / (6.0 * s)),
        _ => None,
    };
    let index = |s: Option<f64>| {
        let (m, s) = (mean?, s?);
        let lo = g.lsl.map(|l| (m - l) / (3.0 * s));
        let hi = g.usl.map(|u| (u - m) / (3.0 * s));
        match (lo, hi) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };
    let cpk = index(sw);
    let expected_outside = match (mean, so) {
        (Some(m), Some(s)) if g.lsl.is_some() || g.usl.is_some() => Some(
            g.lsl.map_or(0.0, |l| normal_cdf((l - m) / s))
                + g.usl.map_or(0.0, |u| 1.0 - normal_cdf((u - m) / s)),
        ),
        _ => None,
    };
    let warning = if n < MIN_N {
        Some(format!(
            "n = {n} < {MIN_N}: σ and Cpk are too uncertain to judge the process (at n = 30 a \
             Cpk of 1.33 is known only to ±0.36)"
        ))
    } else if g.lsl.is_none() && g.usl.is_none() {
        Some("no numeric limits: no capability index".to_owned())
    } else if sw.is_none() {
        Some("no spread between readings: σ is zero".to_owned())
    } else {
        None
    };
    CapabilityRow {
        measurement: measurement.to_owned(),
        generation: generation.to_owned(),
        firmware: firmware.unwrap_or("-").to_owned(),
        limits: limits.chars().take(12).collect(),
        unit: g.unit.as_deref().map(str::to_owned),
        lsl: g.lsl,
        usl: g.usl,
        marginal_low: g.marginal.0,
        marginal_high: g.marginal.1,
        n,
        mean,
        sigma_overall: g.acc.sigma_overall(),
        sigma_within: g.acc.sigma_within(),
        cp: spread(sw),
        cpk,
        pp: spread(so),
        ppk: index(so),
        cpk_ci95: cpk
            .filter(|_| n > 1)
            .map(|c| 1.96 * (1.0 / (9.0 * n as f64) + c * c / (2.0 * (n as f64 - 1.0))).sqrt()),
        observed_outside: if n == 0 {
            0.0
        } else {
            g.outside as f64 / n as f64
        },
        expected_outside,
        warning,
    }
}

/// A run's generation × firmware × limit set.
pub(crate) type Set = (Arc<str>, Option<Arc<str>>, Arc<str>);

/// The distinct sets of `runs`, and each run's number among them: numbered once, so the scan
/// indexes arrays instead of hashing text for every reading.
pub(crate) fn number_sets(runs: &Runs) -> (Vec<Set>, Vec<u32>) {
    let mut set_ids: HashMap<Set, u32> = HashMap::new();
    let mut sets: Vec<Set> = Vec::new();
    let run_set = runs
        .iter()
        .map(|r| {
            let key = (
                r.generation.clone(),
                r.firmware.clone(),
                r.limits_sha256.clone(),
            );
            *set_ids.entry(key.clone()).or_insert_with(|| {
                sets.push(key);
                sets.len() as u32 - 1
            })
        })
        .collect();
    (sets, run_set)
}
