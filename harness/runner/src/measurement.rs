//! Judging a measured value against its limits, as OpenHTF validates a measurement when it is set:
//! the outcome is data (pass, fail, marginal), never an error.

use rigor_model::limits::{Bound, Comparator};
use rigor_model::unit::Unit;
use rigor_plan::plan::BoundLimits;
use serde::Serialize;

/// A measured value: a number (in a unit) or text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A number.
    Number(f64),
    /// Text (a version string, a serial number).
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{}", round(*n)),
            Value::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Rounds for display only: records keep the full value.
fn round(n: f64) -> f64 {
    let scale = 1e6;
    (n * scale).round() / scale
}

/// How a measurement came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within limits.
    Pass,
    /// Within limits but outside the marginal band.
    Marginal,
    /// Outside limits.
    Fail,
}

impl Verdict {
    /// True unless the value is outside its limits.
    pub fn passed(self) -> bool {
        self != Verdict::Fail
    }
}

/// A judged measurement: the value in the limits' unit, the limits, the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judged {
    /// The measurement's name.
    pub name: String,
    /// The value, converted into the limits' unit.
    pub value: Value,
    /// The unit of `value` and of the limits.
    pub unit: Option<Unit>,
    /// The comparator as people read it (`0.04 <= x <= 0.08`).
    pub limits: String,
    /// The comparator itself, in `unit`, for records.
    pub comparator: Comparator,
    /// The marginal band, in `unit`.
    pub marginal: Option<rigor_model::limits::MarginalBand>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Judged {
    /// The line a report shows for a failed or marginal value: value against limits.
    pub fn describe(&self) -> String {
        let unit = self.unit.map(|u| format!(" {u}")).unwrap_or_default();
        format!(
            "{} = {}{unit}, limits {}{unit}",
            self.name, self.value, self.limits
        )
    }
}

/// Why a value could not be judged (a scenario or device problem, not a failed limit).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// The value is text where the limits want a number.
    #[error("`{name}` is {value:?}, not a number")]
    NotANumber {
        /// Measurement name.
        name: String,
        /// What it was.
        value: String,
    },
    /// The value's unit cannot be converted into the limits' unit.
    #[error("`{name}` is in {from}, which cannot be compared with limits in {to}")]
    Incompatible {
        /// Measurement name.
        name: String,
        /// The value's unit.
        from: Unit,
        /// The limits' unit.
        to: Unit,
    },
    /// The limit's pattern does not compile (it was checked at bind time, so this is a bug).
    #[error("the pattern of `{name}` does not compile: {why}")]
    BadPattern {
        /// Measurement name.
        name: String,
        /// Why.
        why: String,
    },
}

/// Judges `value` (in `unit`) against `limits`.
pub fn judge(
    name: &str,
    value: Value,
    unit: Option<Unit>,
    limits: &BoundLimits,
) -> Result<Judged, JudgeError> {
    let described = limits.comparator.describe();
    if let Comparator::Matches { pattern } = &limits.comparator {
        let text = match &value {
            Value::Text(t) => t.clone(),
            Value::Number(n) => n.to_string(),
        };
        let re = pattern.regex().map_err(|e| JudgeError::BadPattern {
            name: name.to_owned(),
            why: e.to_string(),
        })?;
        let verdict = if re.is_match(&text) {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        return Ok(Judged {
            name: name.to_owned(),
            value: Value::Text(text),
            unit: None,
            limits: described,
            comparator: limits.comparator.clone(),
            marginal: None,
            verdict,
        });
    }
    let raw = match value {
        Value::Number(n) => n,
        Value::Text(t) => match t.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => {
                return Err(JudgeError::NotANumber {
                    name: name.to_owned(),
                    value: t,
                });
            }
        },
    };
    let n = match (unit, limits.unit) {
        (Some(from), Some(to)) => {
            from.convert(raw, to)
                .ok_or_else(|| JudgeError::Incompatible {
                    name: name.to_owned(),
                    from,
                    to,
                })?
        }
        _ => raw,
    };
    let inside = |b: Option<Bound>, above: bool| match b {
        None => true,
        Some(Bound::Inclusive(v)) => {
            if above {
                n >= v
            } else {
                n <= v
            }
        }
        Some(Bound::Exclusive(v)) => {
            if above {
                n > v
            } else {
                n < v
            }
        }
    };
    let pass = match &limits.comparator {
        Comparator::Range { low, high } => inside(*low, true) && inside(*high, false),
        // Exact equality is what `equals` promises (counts, codes); values are compared as recorded.
        Comparator::Equals { value } => n == *value,
        Comparator::Matches { .. } => false,
    };
    let verdict = match (pass, limits.marginal) {
        (false, _) => Verdict::Fail,
        (true, Some(band))
            if band.low.is_some_and(|l| n < l) || band.high.is_some_and(|h| n > h) =>
        {
            Verdict::Marginal
        }
        (true, _) => Verdict::Pass,
    };
    Ok(Judged {
        name: name.to_owned(),
        value: Value::Number(n),
        unit: limits.unit.or(unit),
        limits: described,
        comparator: limits.comparator.clone(),
        marginal: limits.marginal,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigor_model::limits::MarginalBand;
    use rigor_model::{Origin, diagnostic::Location};

    fn limits(
        comparator: Comparator,
        unit: Option<Unit>,
        marginal: Option<MarginalBand>,
    ) -> BoundLimits {
        BoundLimits {
            comparator,
            unit,
            marginal,
            origin: Origin::new(
                std::sync::Arc::from(std::path::Path::new("s.yaml")),
                Some(Location { line: 1, column: 1 }),
            ),
        }
    }

    fn range(low: f64, high: f64) -> Comparator {
        Comparator::Range {
            low: Some(Bound::Inclusive(low)),
            high: Some(Bound::Inclusive(high)),
        }
    }

    #[test]
    fn judges_ranges_with_units_and_marginal_bands() {
        let l = limits(
            range(40.0, 80.0),
            Some(Unit::Milliampere),
            Some(MarginalBand {
                low: Some(45.0),
                high: Some(75.0),
            }),
        );
        let j = judge("idle", Value::Number(0.06), Some(Unit::Ampere), &l).unwrap();
        assert_eq!(
            (j.verdict, j.value.clone()),
            (Verdict::Pass, Value::Number(60.0))
        );
        assert_eq!(j.describe(), "idle = 60 mA, limits 40 <= x <= 80 mA");
        assert_eq!(
            judge("idle", Value::Number(0.077), Some(Unit::Ampere), &l)
                .unwrap()
                .verdict,
            Verdict::Marginal
        );
        assert_eq!(
            judge("idle", Value::Number(0.081), Some(Unit::Ampere), &l)
                .unwrap()
                .verdict,
            Verdict::Fail
        );
        assert_eq!(
            judge("idle", Value::Number(0.040), Some(Unit::Ampere), &l)
                .unwrap()
                .verdict,
            Verdict::Marginal
        );
        let err = judge("idle", Value::Number(1.0), Some(Unit::Volt), &l).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`idle` is in V, which cannot be compared with limits in mA"
        );
    }

    #[test]
    fn exclusive_bounds_exclude_the_bound() {
        let l = limits(
            Comparator::Range {
                low: Some(Bound::Exclusive(1.0)),
                high: None,
            },
            Some(Unit::Volt),
            None,
        );
        assert_eq!(
            judge("v", Value::Number(1.0), Some(Unit::Volt), &l)
                .unwrap()
                .verdict,
            Verdict::Fail
        );
        assert_eq!(
            judge("v", Value::Number(1.001), Some(Unit::Volt), &l)
                .unwrap()
                .verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn patterns_match_the_whole_text() {
        let l = limits(
            Comparator::Matches {
                pattern: rigor_model::pattern::WholeMatch::new(r"2\.\d+\.\d+"),
            },
            None,
            None,
        );
        assert_eq!(
            judge("fw", Value::Text("2.1.0".into()), None, &l)
                .unwrap()
                .verdict,
            Verdict::Pass
        );
        assert_eq!(
            judge("fw", Value::Text("12.1.0-rc".into()), None, &l)
                .unwrap()
                .verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn text_that_is_not_a_number_is_an_error_not_a_failure() {
        let l = limits(range(0.0, 1.0), Some(Unit::Volt), None);
        assert_eq!(
            judge("v", Value::Text("n/a".into()), Some(Unit::Volt), &l).unwrap_err(),
            JudgeError::NotANumber {
                name: "v".into(),
                value: "n/a".into()
            }
        );
        assert_eq!(
            judge("v", Value::Text(" 0.5 ".into()), Some(Unit::Volt), &l)
                .unwrap()
                .verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn evaluates_expressions_over_captures() {
        let values = std::collections::BTreeMap::from([("raw".to_owned(), 1600.0)]);
        let evaluate =
            |text: &str| rigor_model::expression::Expression::new(text).evaluate(&values);
        assert_eq!(evaluate("raw / 16 * 0.0625"), Ok(6.25));
        assert!(evaluate("nope * 2").is_err());
    }
}
