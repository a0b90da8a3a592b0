//! Measurement limits as QA engineers write them, and their checks.
//!
//! Like OpenHTF's validators, limits are declared next to the measurement with a unit and an
//! optional marginal band; unlike them, they are data, so `rigor check` can verify every limit
//! against the unit of the instrument channel that feeds it before anything runs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostics, FileContext, join};
use crate::pattern::WholeMatch;
use crate::unit::Unit;

/// Limits of one measurement.
///
/// Numeric: `low`/`high` are inclusive, `above`/`below` exclusive, `equals` exact. Text: `matches`
/// is a regular expression the whole value must match. `from-profile` takes the range and unit of
/// a variable of the device profile, so each generation brings its own limits.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Lowest passing value, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Highest passing value, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// The value must be greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// The value must be less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// The value must equal this exactly (counts, codes, states).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<f64>,
    /// The text value must match this regular expression, anchored at both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<WholeMatch>,
    /// A band inside the limits; a passing value outside it is flagged marginal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marginal: Option<MarginalBand>,
    /// The unit of the numbers above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Take the range and unit from this variable of the device profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_profile: Option<String>,
}

/// The marginal band: values that pass but sit close to a limit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarginalBand {
    /// Values below this (but passing) are marginal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Values above this (but passing) are marginal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
}

/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// The value may equal the bound.
    Inclusive(f64),
    /// The value must not equal the bound.
    Exclusive(f64),
}

impl Bound {
    fn value(self) -> f64 {
        match self {
            Bound::Inclusive(v) | Bound::Exclusive(v) => v,
        }
    }
}

/// Limits after their own checks: a single comparator, in one unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "comparator")]
pub enum Comparator {
    /// `low <= v <= high` (either end may be open or exclusive).
    Range {
        /// The lower end, if any.
        low: Option<Bound>,
        /// The upper end, if any.
        high: Option<Bound>,
    },
    /// `v == value`.
    Equals {
        /// The expected value.
        value: f64,
    },
    /// The text matches the pattern.
    Matches {
        /// The pattern, compiled once and anchored.
        pattern: WholeMatch,
    },
}

impl Comparator {
    /// The comparator as analysts read it in reports: `0.04 <= x <= 0.08`.
    pub fn describe(&self) -> String {
        match self {
            Comparator::Range { low, high } => {
                let lo = low.map(|b| match b {
                    Bound::Inclusive(v) => format!("{v} <= "),
                    Bound::Exclusive(v) => format!("{v} < "),
                });
                let hi = high.map(|b| match b {
                    Bound::Inclusive(v) => format!(" <= {v}"),
                    Bound::Exclusive(v) => format!(" < {v}"),
                });
                format!("{}x{}", lo.unwrap_or_default(), hi.unwrap_or_default())
            }
            Comparator::Equals { value } => format!("x == {value}"),
            Comparator::Matches { pattern } => format!("x =~ /{pattern}/"),
        }
    }

    /// The same comparator with its numbers converted by `f` (for unit conversion).
    pub fn map_numbers(&self, f: impl Fn(f64) -> f64) -> Comparator {
        let bound = |b: Bound| match b {
            Bound::Inclusive(v) => Bound::Inclusive(f(v)),
            Bound::Exclusive(v) => Bound::Exclusive(f(v)),
        };
        match self {
            Comparator::Range { low, high } => Comparator::Range {
                low: low.map(bound),
                high: high.map(bound),
            },
            Comparator::Equals { value } => Comparator::Equals { value: f(*value) },
            Comparator::Matches { pattern } => Comparator::Matches {
                pattern: pattern.clone(),
            },
        }
    }

    /// True when this comparator checks numbers.
    pub fn is_numeric(&self) -> bool {
        !matches!(self, Comparator::Matches { .. })
    }
}

/// What `Limits` says once checked: a comparator, its unit (for numbers), and a marginal band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedLimits {
    /// How the value is judged.
    pub comparator: Comparator,
    /// The unit of the comparator's numbers; `None` for text.
    pub unit: Option<Unit>,
    /// The marginal band, in the same unit.
    pub marginal: Option<MarginalBand>,
}

impl Limits {
    /// Checks the limits on their own (one comparator, sensible order, a unit for numbers, a
    /// pattern that compiles). Returns `None` when they refer to a profile variable, which the
    /// binder resolves, or when a problem was reported.
    pub fn check(
        &self,
        ctx: &FileContext,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<CheckedLimits> {
        let numeric = [self.low, self.high, self.above, self.below, self.equals]
            .iter()
            .any(Option::is_some);
        // NaN compares false with everything and infinity never bounds anything: such a limit
        // would fail (or pass) every unit, and the store could not keep it.
        let bounds = [
            ("low", self.low),
            ("high", self.high),
            ("above", self.above),
            ("below", self.below),
            ("equals", self.equals),
        ];
        let band = self
            .marginal
            .iter()
            .flat_map(|m| [("marginal.low", m.low), ("marginal.high", m.high)]);
        let mut finite = true;
        for (key, value) in bounds.into_iter().chain(band) {
            if let Some(v) = value.filter(|v| !v.is_finite()) {
                diags.push(
                    ctx.error(join(path, key), format!("`{v}` is not a finite number"))
                        .with_help("write a number: NaN and infinity can never judge a unit"),
                );
                finite = false;
            }
        }
        if !finite {
            return None;
        }
        let kinds = usize::from(numeric)
            + usize::from(self.matches.is_some())
            + usize::from(self.from_profile.is_some());
        if kinds == 0 {
            diags.push(ctx.error(path, "limits say nothing to compare against").with_help(
                "give `low`/`high` (inclusive), `above`/`below` (exclusive), `equals`, `matches` or `from-profile`",
            ));
            return None;
        }
        if kinds > 1 {
            diags.push(
                ctx.error(
                    path,
                    "limits mix numeric bounds, `matches` and `from-profile`",
                )
                .with_help("use one kind of limit per measurement"),
            );
            return None;
        }
        if self.from_profile.is_some() {
            if let Some(k) = [("low", self.low), ("high", self.high)]
                .iter()
                .find(|(_, v)| v.is_some())
            {
                diags.push(ctx.error(
                    join(path, k.0),
                    "a bound cannot be combined with `from-profile`",
                ));
            }
            return None;
        }
        if let Some(pattern) = &self.matches {
            if let Err(e) = pattern.regex() {
                diags.push(ctx.error(
                    join(path, "matches"),
                    format!("invalid regular expression: {e}"),
                ));
                return None;
            }
            if self.unit.is_some() {
                diags.push(
                    ctx.key_error(join(path, "unit"), "a text limit (`matches`) has no unit"),
                );
            }
            return Some(CheckedLimits {
                comparator: Comparator::Matches {
                    pattern: pattern.clone(),
                },
                unit: None,
                marginal: None,
            });
        }
        let Some(unit) = self.unit else {
            diags.push(
                ctx.error(path, "numeric limits need a `unit`")
                    .with_help("add e.g. `unit: V`; use `unit: count` for plain numbers"),
            );
            return None;
        };
        let mut ok = true;
        for (a, b) in [("low", "above"), ("high", "below")] {
            let (x, y) = match a {
                "low" => (self.low, self.above),
                _ => (self.high, self.below),
            };
            if x.is_some() && y.is_some() {
                diags.push(
                    ctx.key_error(
                        join(path, b),
                        format!("`{b}` and `{a}` both bound the same side"),
                    )
                    .with_help(format!("keep `{a}` (inclusive) or `{b}` (exclusive)")),
                );
                ok = false;
            }
        }
        if let Some(v) = self.equals {
            if [self.low, self.high, self.above, self.below]
                .iter()
                .any(Option::is_some)
            {
                diags.push(ctx.key_error(
                    join(path, "equals"),
                    "`equals` cannot be combined with a range",
                ));
                return None;
            }
            return ok.then_some(CheckedLimits {
                comparator: Comparator::Equals { value: v },
                unit: Some(unit),
                marginal: None,
            });
        }
        let low = self
            .low
            .map(Bound::Inclusive)
            .or(self.above.map(Bound::Exclusive));
        let high = self
            .high
            .map(Bound::Inclusive)
            .or(self.below.map(Bound::Exclusive));
        if let (Some(l), Some(h)) = (low, high)
            && l.value() > h.value()
        {
            diags.push(ctx.error(
                join(path, if self.low.is_some() { "low" } else { "above" }),
                format!(
                    "the lower limit {} is above the upper limit {}",
                    l.value(),
                    h.value()
                ),
            ));
            ok = false;
        }
        if let Some(band) = self.marginal {
            let inside =
                |v: f64| low.is_none_or(|l| v >= l.value()) && high.is_none_or(|h| v <= h.value());
            for (name, v) in [("low", band.low), ("high", band.high)] {
                if let Some(v) = v
                    && !inside(v)
                {
                    diags.push(ctx.error(
                        join(&join(path, "marginal"), name),
                        format!("the marginal band's {name} end {v} lies outside the limits"),
                    ));
                    ok = false;
                }
            }
        }
        ok.then_some(CheckedLimits {
            comparator: Comparator::Range { low, high },
            unit: Some(unit),
            marginal: self.marginal,
        })
    }
}
