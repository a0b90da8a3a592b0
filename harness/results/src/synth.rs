//! Large synthetic stores for benchmarks and statistics tests: units of three generations
//! through one scenario, with device failures, infrastructure errors on one worn fixture,
//! retests, and a slow drift of every measurement's mean over the weeks.
//!
//! Rows go in with plain SQL in large transactions, not through [`rigor_store::Store`]'s
//! one-commit-per-record API (a million units would take hours that way); the schema, its
//! checks and its append-only triggers are the store's own.

use std::path::Path;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::ResultsError;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Units.
    pub units: u64,
    /// Numeric measurements per attempt (`m00`, `m01`, …).
    pub measurements: u32,
    /// Random seed: the same seed gives the same store.
    pub seed: u64,
    /// First start, µs since the epoch.
    pub start_us: i64,
    /// Seconds between units.
    pub cadence_s: i64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            units: 1_000,
            measurements: 20,
            seed: 1,
            start_us: 1_772_409_600_000_000, // 2026-03-02T00:00:00Z
            cadence_s: 30,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynthSummary {
    /// Units.
    pub units: u64,
    /// Runs (attempts).
    pub runs: u64,
    /// Measurements.
    pub measurements: u64,
}

/// SplitMix64: small, fast, and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const SCENARIO_SHA: &str = "5ce0000000000000000000000000000000000000000000000000000000000001";
const LIMITS_SHA: &str = "11a1000000000000000000000000000000000000000000000000000000000001";
const FIRMWARE_SHA: &str = "f1f1000000000000000000000000000000000000000000000000000000000001";

/// Writes a new store at `path` (which must not exist yet).
pub fn synth(path: &Path, config: &SynthConfig) -> Result<SynthSummary, ResultsError> {
    // Creates the file with the store's schema, triggers and views.
    rigor_store::Store::open(path).map_err(|source| ResultsError::Write {
        what: format!("store {}", path.display()),
        source: std::io::Error::other(source),
    })?;
    let mut conn = Connection::open(path).map_err(|source| ResultsError::Open {
        path: path.to_owned(),
        source,
    })?;
    // A generated file can be generated again: no fsync per batch.
    conn.pragma_update(None, "synchronous", "off")?;
    let mut rng = Rng(config.seed);
    let mut summary = SynthSummary {
        units: 0,
        runs: 0,
        measurements: 0,
    };
    let names: Vec<String> = (0..config.measurements)
        .map(|k| format!("m{k:02}"))
        .collect();
    let span = (config.units as f64 * config.cadence_s as f64).max(1.0);
    let mut run_id: i64 = 0;
    const BATCH: u64 = 20_000;
    let mut unit = 0;
    while unit < config.units {
        let tx = conn.transaction()?;
        {
            let mut ins_unit = tx.prepare_cached(
                "INSERT INTO units (serial, family, generation, first_seen_us) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut ins_run = tx.prepare_cached(
                "INSERT INTO runs (id, unit_serial, scenario_name, scenario_version, scenario_sha256, \
                 attempt, station, rig, slot, fixture_id, fixture_insertions, operator, \
                 firmware_sha256, firmware_version, limits_sha256, started_at_us) \
                 VALUES (?1, ?2, 'smoke', '1.0.0', ?3, ?4, ?5, 'rig-1', ?6, ?7, ?8, 'op-1', ?9, ?10, ?11, ?12)",
            )?;
            let mut ins_end = tx.prepare_cached(
                "INSERT INTO run_ends (run_id, ended_at_us, outcome, failure_class) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut ins_step = tx.prepare_cached(
                "INSERT INTO steps (run_id, step_index, step_id, kind, attempt, started_at_us, \
                 ended_at_us, outcome) VALUES (?1, 0, 'measure', 'measure', 1, ?2, ?3, ?4)",
            )?;
            let mut ins_m = tx.prepare_cached(INSERT_READING)?;
            let end = (unit + BATCH).min(config.units);
            for u in unit..end {
                let serial = format!("SY{u:08}");
                let generation = ["gen1", "gen2", "gen3"][(u % 3) as usize];
                let t0 = config.start_us + u as i64 * config.cadence_s * 1_000_000;
                ins_unit.execute(params![serial, "sensor-node", generation, t0])?;
                let progress = (u as f64 * config.cadence_s as f64) / span;
                let firmware = ["2.4.0", "2.4.1", "2.5.0"][((progress * 3.0) as usize).min(2)];
                let station = u % 4 + 1;
                // A weak unit sits near a limit: it fails now and then, and passes on retest.
                let weak = rng.unit() < 0.03;
                let mut attempt: u32 = 1;
                loop {
                    run_id += 1;
                    let start = t0 + i64::from(attempt - 1) * 5_000_000;
                    let fixture = (u + u64::from(attempt)) % 8 + 1;
                    // Fixture 8's contacts are worn: it loses one unit in twenty.
                    let infra = fixture == 8 && rng.unit() < 0.05;
                    ins_run.execute(params![
                        run_id,
                        serial,
                        SCENARIO_SHA,
                        attempt,
                        format!("station-{station}"),
                        station.to_string(),
                        format!("fx-{fixture}"),
                        i64::try_from(u + 1).unwrap_or(i64::MAX),
                        FIRMWARE_SHA,
                        firmware,
                        LIMITS_SHA,
                        start,
                    ])?;
                    summary.runs += 1;
                    let mut failed = false;
                    if !infra {
                        for (k, name) in names.iter().enumerate() {
                            let nominal = 1.0 + k as f64;
                            let sigma = 0.01 * nominal;
                            // Drift: the mean moves by half a sigma over the store's span.
                            let mut value = nominal + sigma * (0.5 * progress + rng.normal());
                            if weak && k == 0 && rng.unit() < 0.6 {
                                value = nominal + 5.0 * sigma;
                            }
                            let reading = (run_id, k, name.as_str(), start + 1_000_000);
                            failed |= !insert_reading(&mut ins_m, reading, value, nominal, sigma)?;
                            summary.measurements += 1;
                        }
                    }
                    let outcome = if infra {
                        "error"
                    } else if failed {
                        "fail"
                    } else {
                        "pass"
                    };
                    ins_step.execute(params![run_id, start, start + 2_000_000, outcome])?;
                    let class = match outcome {
                        "error" => Some("infrastructure"),
                        "fail" => Some("device"),
                        _ => None,
                    };
                    ins_end.execute(params![run_id, start + 3_000_000, outcome, class])?;
                    // Infrastructure errors are always retested; device failures mostly.
                    let retest = match outcome {
                        "error" => true,
                        "fail" => rng.unit() < 0.7,
                        _ => false,
                    };
                    if !retest || attempt >= 3 {
                        break;
                    }
                    attempt += 1;
                }
                summary.units += 1;
            }
            unit = end;
        }
        tx.commit()?;
    }
    Ok(summary)
}

/// A synthetic reading: a measurement row in volts, with limits 4 σ either side of nominal.
const INSERT_READING: &str = "INSERT INTO measurements (run_id, seq, step_index, name, value, \
    unit, comparator, low, low_inclusive, high, high_inclusive, marginal_low, marginal_high, \
    marginal, outcome, measured_at_us) \
    VALUES (?1, ?2, 0, ?3, ?4, 'V', ?5, ?6, 1, ?7, 1, NULL, NULL, 0, ?8, ?9)";

/// Inserts `value` of reading `(run_id, seq, name, measured_at_us)` judged against limits 4 σ
/// either side of `nominal`; says whether it passed.
fn insert_reading(
    stmt: &mut rusqlite::CachedStatement<'_>,
    (run_id, seq, name, at): (i64, usize, &str, i64),
    value: f64,
    nominal: f64,
    sigma: f64,
) -> rusqlite::Result<bool> {
    let (low, high) = (nominal - 4.0 * sigma, nominal + 4.0 * sigma);
    let pass = value >= low && value <= high;
    stmt.execute(params![
        run_id,
        seq as i64,
        name,
        value,
        format!("{low:.4} <= x <= {high:.4}"),
        low,
        high,
        if pass { "pass" } else { "fail" },
        at,
    ])?;
    Ok(pass)
}

/// Appends `retests` new ended attempts at the store made by [`synth`] at `path` (retests of
/// its first units, at the latest firmware, each judged), then one attempt of a new unit that
/// is still running: what a station adds to a store between two analyst queries.
pub fn append(
    path: &Path,
    config: &SynthConfig,
    retests: u64,
) -> Result<SynthSummary, ResultsError> {
    let mut conn = Connection::open(path).map_err(|source| ResultsError::Open {
        path: path.to_owned(),
        source,
    })?;
    let mut rng = Rng(config.seed ^ 0xa11e_a11e);
    let names: Vec<String> = (0..config.measurements)
        .map(|k| format!("m{k:02}"))
        .collect();
    let mut summary = SynthSummary {
        units: 0,
        runs: 0,
        measurements: 0,
    };
    let tx = conn.transaction()?;
    let at: i64 = tx.query_row("SELECT max(started_at_us) FROM runs", [], |r| r.get(0))?;
    for k in 0..=retests {
        let open = k == retests;
        let serial = if open {
            tx.execute(
                "INSERT OR IGNORE INTO units (serial, family, generation, first_seen_us) \
                 VALUES ('SY-OPEN', 'sensor-node', 'gen1', ?1)",
                [at],
            )?;
            summary.units += 1;
            "SY-OPEN".to_owned()
        } else {
            format!("SY{k:08}")
        };
        let attempt: i64 = tx.query_row(
            "SELECT coalesce(max(attempt), 0) + 1 FROM runs WHERE unit_serial = ?1",
            [&serial],
            |r| r.get(0),
        )?;
        let start = at + (k as i64 + 1) * 10_000_000;
        tx.execute(
            "INSERT INTO runs (unit_serial, scenario_name, scenario_version, scenario_sha256, \
             attempt, station, rig, slot, fixture_id, fixture_insertions, operator, \
             firmware_sha256, firmware_version, limits_sha256, started_at_us) \
             VALUES (?1, 'smoke', '1.0.0', ?2, ?3, 'station-1', 'rig-1', '1', 'fx-1', 1, 'op-1', \
             ?4, '2.5.0', ?5, ?6)",
            params![
                serial,
                SCENARIO_SHA,
                attempt,
                FIRMWARE_SHA,
                LIMITS_SHA,
                start
            ],
        )?;
        let run_id = tx.last_insert_rowid();
        summary.runs += 1;
        let mut failed = false;
        for (k, name) in names.iter().enumerate() {
            let nominal = 1.0 + k as f64;
            let sigma = 0.01 * nominal;
            let value = nominal + sigma * (0.5 + rng.normal());
            let reading = (run_id, k, name.as_str(), start + 1_000_000);
            let mut ins_m = tx.prepare_cached(INSERT_READING)?;
            failed |= !insert_reading(&mut ins_m, reading, value, nominal, sigma)?;
            summary.measurements += 1;
        }
        if !open {
            let (outcome, class) = if failed {
                ("fail", Some("device"))
            } else {
                ("pass", None)
            };
            tx.execute(
                "INSERT INTO run_ends (run_id, ended_at_us, outcome, failure_class) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![run_id, start + 3_000_000, outcome, class],
            )?;
        }
    }
    tx.commit()?;
    Ok(summary)
}
