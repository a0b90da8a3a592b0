//! The yield and capability summary cache beside a SQLite store answers exactly what a scan of
//! the store answers: cold, warm after new runs (retests of cached units, runs still open),
//! after its file was tampered with, beside a read-only store, and beside another store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;

use rigor_results::synth::{SynthConfig, synth};
use rigor_results::{
    CacheMode, CapabilityRow, Dimension, Filter, Source, SqliteSource, cache_path, capability,
    yield_report,
};
use rusqlite::{Connection, params};

fn make(path: &Path, seed: u64) {
    let config = SynthConfig {
        units: 300,
        measurements: 3,
        seed,
        ..SynthConfig::default()
    };
    synth(path, &config).unwrap();
}

fn filters() -> Vec<Filter> {
    vec![
        Filter::default(),
        Filter {
            generation: Some("gen2".into()),
            ..Filter::default()
        },
        // Retests move to the next fixture: a unit's attempts split between filters.
        Filter {
            fixture: Some("fx-3".into()),
            ..Filter::default()
        },
        Filter {
            station: Some("station-2".into()),
            since_us: Some(1_772_409_600_000_000 + 2_000 * 1_000_000),
            ..Filter::default()
        },
    ]
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a == b,
    }
}

fn same_capability(cached: &[CapabilityRow], scanned: &[CapabilityRow]) {
    assert_eq!(cached.len(), scanned.len());
    for (a, b) in cached.iter().zip(scanned) {
        // Everything counted or copied is equal; what sums merge equals up to rounding.
        assert_eq!(
            (&a.measurement, &a.generation, &a.firmware, &a.limits, a.n),
            (&b.measurement, &b.generation, &b.firmware, &b.limits, b.n)
        );
        assert_eq!(
            (a.lsl, a.usl, &a.unit, &a.warning),
            (b.lsl, b.usl, &b.unit, &b.warning)
        );
        assert_eq!(a.observed_outside, b.observed_outside);
        for (x, y) in [
            (a.mean, b.mean),
            (a.sigma_overall, b.sigma_overall),
            (a.sigma_within, b.sigma_within),
            (a.cpk, b.cpk),
            (a.ppk, b.ppk),
            (a.expected_outside, b.expected_outside),
        ] {
            assert!(close(x, y), "{a:?} vs {b:?}");
        }
    }
}

/// Every filter's yield (by every dimension) and capability through `mode`'s cache, against
/// a scan of the same store.
fn check(path: &Path, mode: CacheMode) {
    let cached = SqliteSource::open(path).unwrap().with_cache(mode);
    let scan = SqliteSource::open(path)
        .unwrap()
        .with_cache(CacheMode::Off)
        .with_scan_parts(1);
    let chain = ["smoke".to_owned()];
    for filter in filters() {
        assert!(scan.summary(&filter).unwrap().is_none());
        let summary = cached.summary(&filter).unwrap().expect("a cached summary");
        let runs = scan.runs(&filter).unwrap();
        for &by in Dimension::ALL {
            assert_eq!(
                summary.yield_report(by, &chain),
                yield_report(&runs, by, &chain),
                "{filter:?} by {by:?}"
            );
        }
        same_capability(
            &summary.capability(None),
            &capability(&scan, &runs, None).unwrap(),
        );
        same_capability(
            &summary.capability(Some("m01")),
            &capability(&scan, &runs, Some("m01")).unwrap(),
        );
    }
}

/// The run id each cached filter ends at, and when it was saved.
fn cached_rows(path: &Path) -> Vec<(i64, i64)> {
    let conn = Connection::open(cache_path(path)).unwrap();
    let mut stmt = conn
        .prepare("SELECT upto_run_id, saved_at_us FROM summaries ORDER BY filter")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A run of `serial` at `at` (µs after the synthetic store's start), ended unless `open`, with a
/// reading of `m00` well off its nominal 1.0 and `m01` at `m01`.
fn append(conn: &Connection, serial: &str, attempt: u32, fixture: &str, at: i64, open: bool) {
    let start = 1_772_409_600_000_000 + at;
    let generation: String = conn
        .query_row(
            "SELECT generation FROM units WHERE serial = ?1",
            [serial],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| {
            conn.execute(
                "INSERT INTO units (serial, family, generation, first_seen_us) \
                 VALUES (?1, 'sensor-node', 'gen2', ?2)",
                params![serial, start],
            )
            .unwrap();
            "gen2".to_owned()
        });
    assert!(!generation.is_empty());
    conn.execute(
        "INSERT INTO runs (unit_serial, scenario_name, scenario_version, scenario_sha256, attempt, \
         station, rig, slot, fixture_id, fixture_insertions, operator, firmware_sha256, \
         firmware_version, limits_sha256, started_at_us) VALUES (?1, 'smoke', '1.0.0', ?2, ?3, \
         'station-2', 'rig-1', '2', ?4, 1, 'op-1', ?5, '2.5.0', ?6, ?7)",
        params![
            serial,
            format!("5ce0{}1", "0".repeat(59)),
            attempt,
            fixture,
            format!("f1f1{}1", "0".repeat(59)),
            format!("11a1{}1", "0".repeat(59)),
            start
        ],
    )
    .unwrap();
    let run = conn.last_insert_rowid();
    for (seq, (name, value)) in [("m00", 1.07), ("m01", 2.003)].into_iter().enumerate() {
        let nominal = 1.0 + seq as f64;
        let (low, high) = (nominal * 0.96, nominal * 1.04);
        let pass = value >= low && value <= high;
        conn.execute(
            "INSERT INTO measurements (run_id, seq, step_index, name, value, unit, comparator, \
             low, low_inclusive, high, high_inclusive, marginal, outcome, measured_at_us) \
             VALUES (?1, ?2, 0, ?3, ?4, 'V', 'x', ?5, 1, ?6, 1, 0, ?7, ?8)",
            params![
                run,
                seq as i64,
                name,
                value,
                low,
                high,
                if pass { "pass" } else { "fail" },
                start
            ],
        )
        .unwrap();
    }
    if !open {
        conn.execute(
            "INSERT INTO run_ends (run_id, ended_at_us, outcome, failure_class) \
             VALUES (?1, ?2, 'fail', 'device')",
            params![run, start + 1_000_000],
        )
        .unwrap();
    }
}

#[test]
fn cached_summaries_equal_a_scan_cold_warm_tampered_read_only_and_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    make(&path, 5);

    // Cold: built from the store and saved, one row per filter.
    assert!(!cache_path(&path).exists());
    check(&path, CacheMode::ReadWrite);
    let cold = cached_rows(&path);
    assert_eq!(cold.len(), filters().len());
    // Asked again with nothing new: read back, not rebuilt (a rebuild would save anew).
    check(&path, CacheMode::ReadWrite);
    assert_eq!(cached_rows(&path), cold);

    // Warm: retests of units the cache holds (one on another fixture), a new unit, and a run
    // still open followed by an ended one: the cache moves up to the open run and no further.
    let conn = Connection::open(&path).unwrap();
    let last: i64 = conn
        .query_row("SELECT max(id) FROM runs", [], |r| r.get(0))
        .unwrap();
    let retested: Vec<(String, u32)> = conn
        .prepare(
            "SELECT unit_serial, max(attempt) FROM runs WHERE unit_serial IN \
             ('SY00000001', 'SY00000007', 'SY00000010') GROUP BY unit_serial",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let late = 20_000 * 1_000_000;
    for (serial, attempt) in &retested {
        append(&conn, serial, attempt + 1, "fx-3", late, false);
    }
    append(&conn, "SY90000000", 1, "fx-3", late + 1, false);
    append(&conn, "SY90000001", 1, "fx-3", late + 2, true);
    append(&conn, "SY90000002", 1, "fx-3", late + 3, false);
    let open_run = last + retested.len() as i64 + 2;
    check(&path, CacheMode::ReadWrite);
    assert!(
        cached_rows(&path)
            .iter()
            .all(|(upto, _)| *upto == open_run - 1)
    );

    // Tampered with: a cached number changed without its hash is noticed and rebuilt.
    let cache = Connection::open(cache_path(&path)).unwrap();
    cache
        .execute(
            "UPDATE summaries SET state = CAST(replace(state, '\"units\":1', '\"units\":2') AS BLOB)",
            [],
        )
        .unwrap();
    check(&path, CacheMode::ReadWrite);
    // Not a database at all: replaced.
    std::fs::write(cache_path(&path), b"not a cache").unwrap();
    check(&path, CacheMode::ReadWrite);
    assert_eq!(cached_rows(&path).len(), filters().len());

    // Another store's cache beside this one is not used: another station, other runs.
    let other = dir.path().join("other.db");
    make(&other, 6);
    std::fs::copy(cache_path(&path), cache_path(&other)).unwrap();
    check(&other, CacheMode::ReadWrite);

    // A read-only store answers from a scan and writes no cache.
    let read_only = dir.path().join("read-only.db");
    std::fs::copy(&path, &read_only).unwrap();
    let mut perms = std::fs::metadata(&read_only).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&read_only, perms).unwrap();
    let source = SqliteSource::open(&read_only).unwrap();
    assert!(source.summary(&Filter::default()).unwrap().is_some());
    check(&read_only, CacheMode::for_store(&read_only));
    assert!(!cache_path(&read_only).exists());
}
