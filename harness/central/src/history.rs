//! A unit's history read from the central store by serial: every run at every station, its
//! attempt numbered across stations, whether it is part of the unit's footprint, and runs of it
//! that overlapped in time, and stations that disagree on what the unit is (both reported, never
//! merged).

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use tokio_postgres::Client;

use crate::error::CentralError;

/// One run in a unit's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRun {
    /// Scenario name.
    pub scenario: String,
    /// Attempt per unit × scenario across stations, by start time.
    pub attempt: i64,
    /// The station's name; with the start of its id when another station has the same name.
    pub station: String,
    /// The station's own attempt number.
    pub station_attempt: i64,
    /// Firmware version, if declared.
    pub firmware: Option<String>,
    /// Start, µs since the epoch.
    pub started_at_us: i64,
    /// `pass`, `fail`, `error`, `aborted` or `incomplete`.
    pub outcome: String,
    /// The end's message.
    pub message: Option<String>,
    /// Part of the unit's first factory sequence.
    pub footprint: bool,
}

/// A unit's history.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitHistory {
    /// The serial.
    pub serial: String,
    /// Family and generation, if the unit is known.
    pub kind: Option<(String, String)>,
    /// Runs by scenario, then attempt.
    pub runs: Vec<HistoryRun>,
    /// Pairs of runs (scenario, station, start of each) that overlapped in time.
    pub overlaps: Vec<[(String, String, i64); 2]>,
    /// When stations disagree on the unit's family and generation: each station's word
    /// (station, family, generation), first seen first; empty when they agree.
    pub claims: Vec<(String, String, String)>,
}

/// Reads the history of `serial` (as an analyst: it only reads).
pub async fn unit_history(client: &Client, serial: &str) -> Result<UnitHistory, CentralError> {
    let kind = client
        .query_opt(
            "SELECT family, generation FROM units WHERE serial = $1",
            &[&serial],
        )
        .await
        .map_err(CentralError::pg("read the unit"))?
        .map(|row| (row.get(0), row.get(1)));
    let runs = client
        .query(
            "SELECT h.scenario_name, h.attempt, \
             CASE WHEN (SELECT count(DISTINCT r.station_id) FROM runs AS r \
                        WHERE r.station = h.station) > 1 \
                  THEN h.station || '@' || left(h.station_id::text, 8) \
                  ELSE h.station END, \
             h.station_attempt, h.firmware_version, h.started_at_us, h.outcome, h.message, \
             EXISTS (SELECT 1 FROM unit_footprint AS f WHERE f.run_uuid = h.run_uuid \
                     AND f.unit_serial = h.unit_serial) \
             FROM run_history AS h WHERE h.unit_serial = $1 \
             ORDER BY h.scenario_name, h.attempt",
            &[&serial],
        )
        .await
        .map_err(CentralError::pg("read the unit's runs"))?
        .iter()
        .map(|row| HistoryRun {
            scenario: row.get(0),
            attempt: row.get(1),
            station: row.get(2),
            station_attempt: row.get(3),
            firmware: row.get(4),
            started_at_us: row.get(5),
            outcome: row.get(6),
            message: row.get(7),
            footprint: row.get(8),
        })
        .collect();
    let overlaps = client
        .query(
            "SELECT a.scenario_name, a.station, o.started_a_us, \
                    b.scenario_name, b.station, o.started_b_us \
             FROM overlapping_runs AS o \
             JOIN runs AS a ON a.run_uuid = o.run_a JOIN runs AS b ON b.run_uuid = o.run_b \
             WHERE o.unit_serial = $1 ORDER BY o.started_a_us, o.started_b_us",
            &[&serial],
        )
        .await
        .map_err(CentralError::pg("read the unit's overlapping runs"))?
        .iter()
        .map(|row| {
            [
                (row.get(0), row.get(1), row.get(2)),
                (row.get(3), row.get(4), row.get(5)),
            ]
        })
        .collect();
    let claims = client
        .query(
            "SELECT station, family, generation FROM unit_disagreements WHERE serial = $1 \
             ORDER BY first_seen_us, station",
            &[&serial],
        )
        .await
        .map_err(CentralError::pg("read what the stations say of the unit"))?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    Ok(UnitHistory {
        serial: serial.to_owned(),
        kind,
        runs,
        overlaps,
        claims,
    })
}

fn time(us: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_micros(us.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The history as a table for people.
pub fn render_history(history: &UnitHistory) -> String {
    let mut out = String::new();
    let Some((family, generation)) = &history.kind else {
        let _ = writeln!(out, "unit {}: not in the central store", history.serial);
        return out;
    };
    let stations: std::collections::BTreeSet<&str> =
        history.runs.iter().map(|r| r.station.as_str()).collect();
    let _ = writeln!(
        out,
        "unit {} ({family} {generation}): {} runs at {} station{}",
        history.serial,
        history.runs.len(),
        stations.len(),
        if stations.len() == 1 { "" } else { "s" }
    );
    let width = |f: &dyn Fn(&HistoryRun) -> usize, min: usize| {
        history.runs.iter().map(f).max().unwrap_or(0).max(min)
    };
    let sw = width(&|r| r.scenario.len(), 8);
    let tw = width(
        &|r| r.station.len() + r.station_attempt.to_string().len() + 3,
        21,
    );
    let _ = writeln!(
        out,
        "{:<sw$}  attempt  {:<tw$}  {:<20}  {:<8}  result",
        "scenario", "station (its attempt)", "started", "firmware"
    );
    for r in &history.runs {
        let station = format!("{} ({})", r.station, r.station_attempt);
        let mut result = r.outcome.to_uppercase();
        if r.footprint {
            result.push_str("  footprint");
        }
        if let Some(message) = r.message.as_deref().filter(|_| r.outcome != "pass") {
            let _ = write!(result, "  ({message})");
        }
        let _ = writeln!(
            out,
            "{:<sw$}  {:<7}  {:<tw$}  {:<20}  {:<8}  {result}",
            r.scenario,
            r.attempt,
            station,
            time(r.started_at_us),
            r.firmware.as_deref().unwrap_or("-"),
        );
    }
    for [a, b] in &history.overlaps {
        let _ = writeln!(
            out,
            "overlap: {} at {} from {} and {} at {} from {} ran at the same time",
            a.0,
            a.1,
            time(a.2),
            b.0,
            b.1,
            time(b.2)
        );
    }
    if !history.claims.is_empty() {
        let words: Vec<String> = history
            .claims
            .iter()
            .map(|(station, family, generation)| format!("{station} says {family} {generation}"))
            .collect();
        let _ = writeln!(
            out,
            "disagreement: {} (the unit is filed as the first station said)",
            words.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_text() {
        let t: i64 = 1_764_640_000_000_000;
        let run =
            |scenario: &str, attempt, station: &str, own, at: i64, outcome: &str| HistoryRun {
                scenario: scenario.into(),
                attempt,
                station: station.into(),
                station_attempt: own,
                firmware: Some("2.1.1".into()),
                started_at_us: t + at * 1_000_000,
                outcome: outcome.into(),
                message: (outcome == "fail").then(|| "firmware_temp = 8.38 °C".into()),
                footprint: attempt <= 2,
            };
        let history = UnitHistory {
            serial: "FC2-000201".into(),
            kind: Some(("fridge-ctl".into(), "gen2".into())),
            runs: vec![
                run("smoke", 1, "line1", 1, 0, "fail"),
                run("smoke", 2, "repair", 1, 3600, "pass"),
                run("smoke", 3, "line1", 2, 7200, "pass"),
            ],
            overlaps: vec![[
                ("smoke".into(), "line1".into(), t),
                ("smoke".into(), "line2".into(), t + 1),
            ]],
            claims: vec![
                ("line1".into(), "fridge-ctl".into(), "gen2".into()),
                ("repair".into(), "fridge-ctl".into(), "gen3".into()),
            ],
        };
        insta::assert_snapshot!(render_history(&history));
    }
}
