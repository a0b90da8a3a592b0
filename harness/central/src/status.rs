//! `rigor store status`: how far a station's forwarding has got, for people at the line.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rigor_store::{ForwardStatus, Timestamp};

fn time(t: Timestamp) -> String {
    let at = UNIX_EPOCH + Duration::from_micros(t.as_micros().max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}

fn ago(t: Timestamp, now: Timestamp) -> String {
    let secs = (now.as_micros() - t.as_micros()).max(0).unsigned_abs() / 1_000_000;
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn runs(n: u64, kind: &str) -> String {
    format!("{n} {kind} run{}", if n == 1 { "" } else { "s" })
}

/// One block per target: what is not forwarded yet (and since when), the last success and the
/// last error since it. `now` is passed in so the text can be tested.
pub fn render(statuses: &[ForwardStatus], now: Timestamp) -> String {
    let mut out = String::new();
    for s in statuses {
        let _ = writeln!(out, "{}", s.target);
        let pending = match s.oldest_pending {
            Some(oldest) if s.pending > 0 => format!(
                "{}, the oldest started {} ({} ago)",
                runs(s.pending, "ended"),
                time(oldest),
                ago(oldest, now)
            ),
            _ => "no ended runs".to_owned(),
        };
        let _ = writeln!(
            out,
            "  not forwarded: {pending}; {} (sent as far as recorded)",
            runs(s.open, "open")
        );
        let _ = match s.last_success {
            Some(t) => writeln!(out, "  last success:  {} ({} ago)", time(t), ago(t, now)),
            None => writeln!(out, "  last success:  never"),
        };
        if let Some((t, error)) = &s.last_error {
            let _ = writeln!(out, "  last error:    {} {error}", time(*t));
        }
    }
    out
}

/// Now, for [`render`].
pub fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text() {
        let now = Timestamp(1_764_640_000_000_000);
        let statuses = [
            ForwardStatus {
                target: "postgres://central.factory:5432/rigor".into(),
                pending: 12,
                open: 1,
                oldest_pending: Some(Timestamp(now.0 - 3_600_000_000)),
                last_success: Some(Timestamp(now.0 - 7_200_000_000)),
                last_error: Some((
                    Timestamp(now.0 - 5_000_000),
                    "cannot connect to the central store postgres://central.factory:5432/rigor: \
                     error connecting to server: Connection refused (os error 111)"
                        .into(),
                )),
            },
            ForwardStatus {
                target: "postgres://127.0.0.1:6543/lab".into(),
                pending: 0,
                open: 0,
                oldest_pending: None,
                last_success: Some(Timestamp(now.0 - 2_000_000)),
                last_error: None,
            },
        ];
        insta::assert_snapshot!(render(&statuses, now));
    }
}
