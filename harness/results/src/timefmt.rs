//! Times as analysts read them: UTC days, shifts and RFC 3339 instants.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn at(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-03-01`.
pub fn day(us: i64) -> String {
    let t = at(us);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `2026-03-01 S2`: the day and its 8-hour shift, S1 from midnight UTC.
pub fn shift(us: i64) -> String {
    format!("{} S{}", day(us), at(us).hour() / 8 + 1)
}

/// `2026-03-01T08:00:00.5Z`.
pub fn instant(us: i64) -> String {
    at(us).format(&Rfc3339).unwrap_or_else(|_| us.to_string())
}

/// Seconds since the epoch, clamped into STDF's `U*4`.
pub fn stdf_seconds(us: i64) -> u32 {
    u32::try_from(us.div_euclid(1_000_000)).unwrap_or(if us < 0 { 0 } else { u32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_shifts_are_utc() {
        let us = 86_400_000_000 + 9 * 3_600_000_000; // 1970-01-02 09:00Z
        assert_eq!(day(us), "1970-01-02");
        assert_eq!(shift(us), "1970-01-02 S2");
        assert_eq!(instant(us), "1970-01-02T09:00:00Z");
        assert_eq!(stdf_seconds(-5), 0);
    }
}
