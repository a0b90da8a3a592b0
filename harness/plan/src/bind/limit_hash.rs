//! The hash of a plan's limit set, which stores hold beside every run's records.
//!
//! Each measurement adds its name, then its comparator, unit and marginal band as JSON with
//! sorted keys. The bytes must never change for the same limits. They were first written through
//! `serde_json::Value`, whose maps sort their keys; the types below write the same JSON straight
//! from the typed limits, without building a tree per measurement of every bound plan.

use rigor_model::limits::{Bound, Comparator, MarginalBand};
use rigor_model::pattern::WholeMatch;
use rigor_model::unit::Unit;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::{BoundAction, BoundLimits, BoundPlan};

/// The limit-set hash of `plan`, in lowercase hex.
pub(crate) fn limit_set_hash(plan: &BoundPlan) -> String {
    let mut h = Sha256::new();
    let mut json = Vec::new();
    for step in plan.all_steps() {
        let (name, limits) = match &step.action {
            BoundAction::Measure { name, limits, .. }
            | BoundAction::GpioMeasure { name, limits, .. }
            | BoundAction::OtaMeasure { name, limits, .. } => (name, limits),
            _ => continue,
        };
        h.update(name.as_bytes());
        json.clear();
        // Into a `Vec`, with string keys only, writing cannot fail.
        if serde_json::to_writer(&mut json, &Described::of(limits)).is_ok() {
            h.update(&json);
        }
    }
    let mut hex = String::with_capacity(64);
    for b in h.finalize() {
        use std::fmt::Write;
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// `{"comparator":…,"marginal":…,"unit":…}`: the keys in sorted order.
#[derive(Serialize)]
struct Described<'a> {
    comparator: SortedComparator<'a>,
    marginal: Option<SortedBand>,
    unit: Option<Unit>,
}

impl<'a> Described<'a> {
    fn of(limits: &'a BoundLimits) -> Self {
        Described {
            comparator: match &limits.comparator {
                Comparator::Range { low, high } => SortedComparator::Range {
                    high: *high,
                    low: *low,
                },
                Comparator::Equals { value } => SortedComparator::Equals { value: *value },
                Comparator::Matches { pattern } => SortedComparator::Matches { pattern },
            },
            marginal: limits.marginal.map(|m: MarginalBand| SortedBand {
                high: m.high,
                low: m.low,
            }),
            unit: limits.unit,
        }
    }
}

/// [`Comparator`] with each variant's fields in sorted order (the tag, `comparator`, sorts first).
#[derive(Serialize)]
#[serde(rename_all = "kebab-case", tag = "comparator")]
enum SortedComparator<'a> {
    Range {
        high: Option<Bound>,
        low: Option<Bound>,
    },
    Equals {
        value: f64,
    },
    Matches {
        pattern: &'a WholeMatch,
    },
}

/// [`MarginalBand`] with its fields in sorted order.
#[derive(Serialize)]
struct SortedBand {
    #[serde(skip_serializing_if = "Option::is_none")]
    high: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    low: Option<f64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rigor_model::diagnostic::Origin;
    use test_case::test_case;

    use super::*;

    /// How the hash described limits before: through `serde_json::Value`.
    fn through_value(limits: &BoundLimits) -> Vec<u8> {
        serde_json::json!({
            "comparator": limits.comparator, "unit": limits.unit, "marginal": limits.marginal,
        })
        .to_string()
        .into_bytes()
    }

    fn limits(
        comparator: Comparator,
        unit: Option<Unit>,
        marginal: Option<MarginalBand>,
    ) -> BoundLimits {
        BoundLimits {
            comparator,
            unit,
            marginal,
            origin: Origin::new(std::sync::Arc::from(std::path::Path::new("x.yaml")), None),
        }
    }

    fn band(low: Option<f64>, high: Option<f64>) -> Option<MarginalBand> {
        Some(MarginalBand { low, high })
    }

    #[test_case(Comparator::Range { low: Some(Bound::Inclusive(0.04)), high: Some(Bound::Inclusive(0.08)) }, Some(Unit::Ampere), band(Some(0.05), Some(0.07)) ; "inclusive range with a band")]
    #[test_case(Comparator::Range { low: Some(Bound::Exclusive(-1.5)), high: None }, Some(Unit::Volt), None ; "open above, exclusive below")]
    #[test_case(Comparator::Range { low: None, high: Some(Bound::Exclusive(1e-7)) }, Some(Unit::Volt), band(None, Some(5e-8)) ; "one-sided band, tiny numbers")]
    #[test_case(Comparator::Range { low: Some(Bound::Inclusive(2.0)), high: Some(Bound::Inclusive(8.0)) }, Some(Unit::DegreeCelsius), band(Some(2.5), None) ; "whole numbers and a non-ascii unit")]
    #[test_case(Comparator::Equals { value: 16.0 }, None, None ; "equals without unit")]
    #[test_case(Comparator::Matches { pattern: WholeMatch::new(r#"(?s).*"ok\" \d+"#) }, None, None ; "pattern with quotes and escapes")]
    fn writes_the_json_the_value_tree_wrote(
        comparator: Comparator,
        unit: Option<Unit>,
        marginal: Option<MarginalBand>,
    ) {
        let limits = limits(comparator, unit, marginal);
        let direct = serde_json::to_vec(&Described::of(&limits)).unwrap();
        assert_eq!(
            String::from_utf8(direct).unwrap(),
            String::from_utf8(through_value(&limits)).unwrap()
        );
    }
}
