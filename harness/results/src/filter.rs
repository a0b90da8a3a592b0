//! Which runs a view looks at: the same filter for every view, every export and every source.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::error::ResultsError;
use crate::rows::Run;

/// A selection of runs; `None` matches all. Every field is pushed down into the source's query
/// where the source can (SQLite does), and [`Filter::matches`] states the same rule for sources
/// and tests that filter in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Scenario name.
    pub scenario: Option<String>,
    /// Unit family.
    pub family: Option<String>,
    /// Unit generation.
    pub generation: Option<String>,
    /// Firmware version as the image declares it.
    pub firmware: Option<String>,
    /// Station (host).
    pub station: Option<String>,
    /// Rig.
    pub rig: Option<String>,
    /// Fixture id.
    pub fixture: Option<String>,
    /// SHA-256 of the bound limit set, or a prefix of it.
    pub limits: Option<String>,
    /// Runs started at or after this instant (µs since the epoch).
    pub since_us: Option<i64>,
    /// Runs started before this instant (µs since the epoch).
    pub until_us: Option<i64>,
    /// Serial pattern, `*` for any run of characters and `?` for one (`FC3-00*`).
    pub serial: Option<String>,
}

impl Filter {
    /// True when `run` is selected.
    pub fn matches(&self, run: &Run) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let eq_opt = |want: &Option<String>, have: &Option<std::sync::Arc<str>>| {
            want.as_deref().is_none_or(|w| have.as_deref() == Some(w))
        };
        eq(&self.scenario, &run.scenario)
            && eq(&self.family, &run.family)
            && eq(&self.generation, &run.generation)
            && eq_opt(&self.firmware, &run.firmware)
            && eq(&self.station, &run.station)
            && eq(&self.rig, &run.rig)
            && eq_opt(&self.fixture, &run.fixture)
            && self
                .limits
                .as_deref()
                .is_none_or(|l| run.limits_sha256.starts_with(l))
            && self.since_us.is_none_or(|t| run.started_at_us >= t)
            && self.until_us.is_none_or(|t| run.started_at_us < t)
            && self
                .serial
                .as_deref()
                .is_none_or(|p| glob_matches(p, &run.serial))
    }

    /// A `YYYY-MM-DD` date (midnight UTC) or an RFC 3339 instant, in µs since the epoch.
    pub fn parse_instant(field: &'static str, text: &str) -> Result<i64, ResultsError> {
        let bad = || ResultsError::Filter {
            field,
            value: text.to_owned(),
            expected: "a date (2026-03-01) or an RFC 3339 time (2026-03-01T08:00:00Z)",
        };
        let at = if text.len() == 10 {
            let date = time::Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map_err(|_| bad())?;
            date.midnight().assume_utc()
        } else {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?
        };
        i64::try_from(at.unix_timestamp_nanos() / 1000).map_err(|_| bad())
    }
}

/// Whole-string match of a `*`/`?` pattern; case-sensitive, as serials are.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_serials() {
        assert!(glob_matches("FC3-*", "FC3-000123"));
        assert!(glob_matches("FC?-*3", "FC3-000123"));
        assert!(!glob_matches("FC3-*", "XFC3-1"));
        assert!(!glob_matches("FC3", "FC3-1"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("fc3-*", "FC3-1"));
    }

    #[test]
    fn instants_parse_as_dates_or_rfc3339() {
        assert_eq!(
            Filter::parse_instant("since", "1970-01-02").ok(),
            Some(86_400_000_000)
        );
        assert_eq!(
            Filter::parse_instant("since", "1970-01-01T00:00:01Z").ok(),
            Some(1_000_000)
        );
        let err = Filter::parse_instant("since", "yesterday").map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(
                "invalid filter since \"yesterday\": expected a date (2026-03-01) or an RFC 3339 \
                 time (2026-03-01T08:00:00Z)"
                    .to_owned()
            )
        );
    }
}
