//! Control charts: individuals and moving range, with the Western Electric rules.

use serde::Serialize;

use crate::error::ResultsError;
use crate::rows::Runs;
use crate::source::Source;
use crate::stats::{Accumulator, D4};

/// A Western Electric rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// One point beyond 3σ.
    Beyond3Sigma,
    /// Two of three consecutive points beyond 2σ on one side.
    TwoOfThreeBeyond2Sigma,
    /// Four of five consecutive points beyond 1σ on one side.
    FourOfFiveBeyond1Sigma,
    /// Eight consecutive points on one side of the centre line.
    EightOnOneSide,
}

impl Rule {
    /// The rule's number (1–4) and a short text.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Beyond3Sigma => "1: beyond 3σ",
            Rule::TwoOfThreeBeyond2Sigma => "2: 2 of 3 beyond 2σ",
            Rule::FourOfFiveBeyond1Sigma => "3: 4 of 5 beyond 1σ",
            Rule::EightOnOneSide => "4: 8 on one side",
        }
    }
}

/// One reading on the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpcPoint {
    /// Position on the chart, from 0.
    pub index: usize,
    /// Run id.
    pub run_id: i64,
    /// Unit serial.
    pub serial: String,
    /// When taken, µs.
    pub measured_at_us: i64,
    /// The reading.
    pub value: f64,
    /// |value − previous value|; none for the first point.
    pub moving_range: Option<f64>,
}

/// A point that breaks a rule; the point completing the pattern is the one listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Position on the chart.
    pub index: usize,
    /// Run id.
    pub run_id: i64,
    /// Unit serial.
    pub serial: String,
    /// The reading.
    pub value: f64,
    /// The rule broken.
    pub rule: Rule,
}

/// An I-MR chart of one measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpcChart {
    /// Measurement name.
    pub measurement: String,
    /// Unit symbol.
    pub unit: Option<String>,
    /// Readings in time order.
    pub points: Vec<SpcPoint>,
    /// Centre line: the mean.
    pub center: f64,
    /// σ within (mean moving range / 1.128).
    pub sigma: f64,
    /// Individuals upper control limit, centre + 3σ.
    pub ucl: f64,
    /// Individuals lower control limit, centre − 3σ.
    pub lcl: f64,
    /// Moving-range centre line.
    pub mr_center: f64,
    /// Moving-range upper control limit, 3.267 × mean moving range.
    pub mr_ucl: f64,
    /// Rule violations, by index then rule.
    pub violations: Vec<Violation>,
}

/// The I-MR chart of `name` over `runs`, readings ordered by when they were taken; `None` when
/// there are fewer than two numeric readings.
pub fn spc(source: &dyn Source, runs: &Runs, name: &str) -> Result<Option<SpcChart>, ResultsError> {
    let mut readings = Vec::new();
    let mut unit = None;
    source.for_each_reading(runs, Some(name), &mut |r| {
        if let Some(run) = runs.at(r.run_position) {
            unit = unit.take().or_else(|| r.unit.map(|u| u.to_string()));
            readings.push((
                r.measured_at_us,
                r.run_id,
                r.seq,
                run.serial.clone(),
                r.value,
            ));
        }
    })?;
    readings.sort_by_key(|r| (r.0, r.1, r.2));
    let mut acc = Accumulator::default();
    let mut points = Vec::with_capacity(readings.len());
    let mut previous: Option<f64> = None;
    for (index, (at, run_id, _, serial, value)) in readings.into_iter().enumerate() {
        acc.push(value);
        points.push(SpcPoint {
            index,
            run_id,
            serial,
            measured_at_us: at,
            value,
            moving_range: previous.map(|p| (value - p).abs()),
        });
        previous = Some(value);
    }
    let (Some(center), Some(mr)) = (acc.mean(), acc.mean_moving_range()) else {
        return Ok(None);
    };
    let sigma = acc.sigma_within().unwrap_or(0.0);
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let violations = western_electric(&values, center, sigma)
        .into_iter()
        .map(|(index, rule)| Violation {
            index,
            run_id: points[index].run_id,
            serial: points[index].serial.clone(),
            value: points[index].value,
            rule,
        })
        .collect();
    Ok(Some(SpcChart {
        measurement: name.to_owned(),
        unit,
        points,
        center,
        sigma,
        ucl: center + 3.0 * sigma,
        lcl: center - 3.0 * sigma,
        mr_center: mr,
        mr_ucl: D4 * mr,
        violations,
    }))
}

/// Indices breaking each rule. A point is listed for rules 2–4 when it completes the pattern
/// and is itself one of the points beyond the zone (or on the side, for rule 4).
pub fn western_electric(values: &[f64], center: f64, sigma: f64) -> Vec<(usize, Rule)> {
    let mut out = Vec::new();
    if sigma <= 0.0 {
        return out;
    }
    let z: Vec<f64> = values.iter().map(|v| (v - center) / sigma).collect();
    for i in 0..z.len() {
        if z[i].abs() > 3.0 {
            out.push((i, Rule::Beyond3Sigma));
        }
        for side in [1.0, -1.0] {
            let beyond = |j: usize, k: f64| z[j] * side > k;
            if i >= 2 && beyond(i, 2.0) && (i - 2..=i).filter(|&j| beyond(j, 2.0)).count() >= 2 {
                out.push((i, Rule::TwoOfThreeBeyond2Sigma));
            }
            if i >= 4 && beyond(i, 1.0) && (i - 4..=i).filter(|&j| beyond(j, 1.0)).count() >= 4 {
                out.push((i, Rule::FourOfFiveBeyond1Sigma));
            }
            if i >= 7 && (i - 7..=i).all(|j| beyond(j, 0.0)) {
                out.push((i, Rule::EightOnOneSide));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_fires_on_its_pattern_and_not_before() {
        // σ = 1, centre 0.
        let rule1 = [0.0, 0.5, -3.5, 0.0];
        assert_eq!(
            western_electric(&rule1, 0.0, 1.0),
            [(2, Rule::Beyond3Sigma)]
        );
        let rule2 = [0.0, 2.5, 0.0, 2.2];
        assert_eq!(
            western_electric(&rule2, 0.0, 1.0),
            [(3, Rule::TwoOfThreeBeyond2Sigma)]
        );
        // Beyond 2σ on opposite sides is not rule 2.
        assert!(western_electric(&[0.0, 2.5, -2.5, 0.0], 0.0, 1.0).is_empty());
        let rule3 = [-0.5, 1.5, 1.2, 0.5, 1.1, 1.3];
        assert_eq!(
            western_electric(&rule3, 0.0, 1.0),
            [(5, Rule::FourOfFiveBeyond1Sigma)]
        );
        let rule4 = [-0.1, 0.2, 0.3, 0.1, 0.4, 0.2, 0.1, 0.3, 0.2];
        assert_eq!(
            western_electric(&rule4, 0.0, 1.0),
            [(8, Rule::EightOnOneSide)]
        );
        assert!(western_electric(&rule4[..8], 0.0, 1.0).is_empty());
    }
}
