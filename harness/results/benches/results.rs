//! Yield by generation plus capability of every measurement over a large generated store,
//! beside the same numbers from hand-written SQL in the `sqlite3` shell; and an STDF export of
//! 100 000 unit attempts.
//!
//! `cargo bench -p rigor-results` generates the store once (RIGOR_BENCH_UNITS units × 20
//! measurements, default 1 000 000) under `target/rigor-results-bench/`, or the folder
//! RIGOR_BENCH_DIR names (a place outside the worktree survives a fresh checkout), and reuses it.
//! RIGOR_BENCH_ROUNDS sets how many times the views run (default 5, the median is reported);
//! RIGOR_BENCH_STDF_PARTS sets the export's size (default 100 000); RIGOR_BENCH_GENERATE_ONLY
//! stops after making the store; RIGOR_BENCH_SKIP_SQL skips the `sqlite3` shell's run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rigor_results::export::{StdfOptions, export_stdf};
use rigor_results::synth::{SynthConfig, append, synth};
use rigor_results::{
    CapabilityRow, Dimension, Filter, Runs, Source, SqliteSource, YieldReport, cache_path,
    capability, yield_report,
};

/// The hand-written equivalent: yield by generation over first judged attempts, then mean,
/// overall σ, σ within (mean moving range / 1.128 in recording order), Cpk and Ppk per
/// measurement × generation × firmware × limit set. The window's sort stays in memory, as the
/// views' own connections do: on a nearly full disk a temporary file of gigabytes fails.
const SQL: &str = "
PRAGMA temp_store = memory;
WITH j AS (
  SELECT r.unit_serial, r.scenario_name, u.generation, e.outcome,
         row_number() OVER (PARTITION BY r.unit_serial, r.scenario_name ORDER BY r.attempt) AS k
  FROM runs r JOIN units u ON u.serial = r.unit_serial JOIN run_ends e ON e.run_id = r.id
  WHERE e.outcome = 'pass' OR e.failure_class = 'device')
SELECT scenario_name, generation, sum(k = 1) AS judged,
       round(1.0 * sum(k = 1 AND outcome = 'pass') / sum(k = 1), 6) AS fpy,
       round(1.0 * count(DISTINCT CASE WHEN outcome = 'pass' THEN unit_serial END) / sum(k = 1), 6) AS final
FROM j GROUP BY scenario_name, generation;
WITH m AS (
  SELECT m.name, u.generation, r.firmware_version AS fw, r.limits_sha256 AS ls, m.value, m.low, m.high,
         abs(m.value - lag(m.value) OVER (PARTITION BY m.name, u.generation, r.firmware_version, r.limits_sha256
                                           ORDER BY m.run_id, m.seq)) AS mr
  FROM measurements m JOIN runs r ON r.id = m.run_id JOIN units u ON u.serial = r.unit_serial
  WHERE m.value IS NOT NULL),
s AS (
  SELECT name, generation, fw, ls, count(*) AS n, avg(value) AS mean,
         sqrt((sum(value * value) - count(*) * avg(value) * avg(value)) / (count(*) - 1)) AS so,
         avg(mr) / 1.128 AS sw, min(low) AS lsl, max(high) AS usl
  FROM m GROUP BY name, generation, fw, ls)
SELECT count(*), round(min(min(usl - mean, mean - lsl) / (3 * sw)), 4) AS worst_cpk,
       round(min(min(usl - mean, mean - lsl) / (3 * so)), 4) AS worst_ppk FROM s;
";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CPU seconds this process has used, all threads (Linux `/proc/self/stat`, in the kernel's
/// 100 Hz ticks): on a shared machine, what the work costs beside how long it waited.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime: fields 14 and 15 of the line, 11 and 12 (from 0) after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn store(units: u64) -> PathBuf {
    let dir = std::env::var_os("RIGOR_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/rigor-results-bench"),
        PathBuf::from,
    );
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("synth-{units}.db"));
    if !path.exists() {
        let partial = dir.join(format!("synth-{units}.db.partial"));
        let _ = std::fs::remove_file(&partial);
        let start = Instant::now();
        let config = SynthConfig {
            units,
            ..SynthConfig::default()
        };
        match synth(&partial, &config) {
            Ok(made) => println!(
                "generated {} units, {} runs, {} measurements in {:.1} s",
                made.units,
                made.runs,
                made.measurements,
                start.elapsed().as_secs_f64()
            ),
            Err(e) => panic!("cannot generate the store: {e}"),
        }
        let _ = std::fs::rename(&partial, &path);
    }
    path
}

/// The same numbers through the summary cache, on a copy of the store (new runs are appended
/// to it): cold (no cache, built by the query), warm with nothing new, and warm after a station
/// recorded a few more runs; each compared with the scan's numbers.
fn cached(path: &Path, units: u64, scanned: &YieldReport, scanned_rows: &[CapabilityRow]) {
    let copy = path.with_extension("cached.db");
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_file(cache_path(&copy));
    if let Err(e) = std::fs::copy(path, &copy) {
        println!("summary cache not measured: cannot copy the store: {e}");
        return;
    }
    let query = |label: &str| {
        let cpu = cpu_seconds();
        let start = Instant::now();
        let source = SqliteSource::open(&copy).unwrap_or_else(|e| panic!("{e}"));
        let summary = source
            .summary(&Filter::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no summary from the cache"));
        let report = summary.yield_report(Dimension::Generation, &[]);
        let rows = summary.capability(None);
        println!(
            "{label}: yield by generation + Cpk of {} groups: {:.2} s wall, {:.2} s CPU \
             (load average {})",
            rows.len(),
            start.elapsed().as_secs_f64(),
            cpu_seconds() - cpu,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
        (report, rows)
    };
    let (report, rows) = query("summary cache, cold (built by this query)");
    let same_counts = rows.len() == scanned_rows.len()
        && rows
            .iter()
            .zip(scanned_rows)
            .all(|(a, b)| (a.n, a.observed_outside) == (b.n, b.observed_outside));
    let worst = rows
        .iter()
        .zip(scanned_rows)
        .filter_map(|(a, b)| Some(((a.cpk? - b.cpk?) / b.cpk?).abs()))
        .fold(0.0, f64::max);
    println!(
        "  against the scan: yield identical {}, capability n and outside identical \
         {same_counts}, largest relative Cpk difference {worst:.1e}",
        report == *scanned
    );
    query("summary cache, warm (nothing new)");
    let config = SynthConfig {
        units,
        ..SynthConfig::default()
    };
    match append(&copy, &config, 20) {
        Ok(added) => println!(
            "appended {} runs ({} measurements), the last still open",
            added.runs, added.measurements
        ),
        Err(e) => panic!("{e}"),
    }
    query("summary cache, warm (after the appended runs)");
    let cache = std::fs::metadata(cache_path(&copy)).map_or(0, |m| m.len());
    println!("  cache file {:.1} kB", cache as f64 / 1e3);
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_file(cache_path(&copy));
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let units = env_u64("RIGOR_BENCH_UNITS", 1_000_000);
    let path = store(units);
    if std::env::var_os("RIGOR_BENCH_GENERATE_ONLY").is_some() {
        return;
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("store {} ({:.0} MB)", path.display(), size as f64 / 1e6);

    let source = match SqliteSource::open(&path) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let rounds = env_u64("RIGOR_BENCH_ROUNDS", 5).max(1);
    let mut totals = Vec::new();
    let mut cpus = Vec::new();
    let mut last = None;
    for round in 1..=rounds {
        let cpu = cpu_seconds();
        let start = Instant::now();
        let runs = source
            .runs(&Filter::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let loaded = start.elapsed();
        let report = yield_report(&runs, Dimension::Generation, &[]);
        let yielded = start.elapsed();
        let rows = capability(&source, &runs, None).unwrap_or_else(|e| panic!("{e}"));
        let total = start.elapsed();
        let cpu = cpu_seconds() - cpu;
        let worst = rows
            .iter()
            .filter_map(|r| r.cpk)
            .fold(f64::INFINITY, f64::min);
        println!(
            "round {round}: rigor-results yield by generation + Cpk of {} groups: {:.2} s \
             (runs {:.2} s, yield {:.2} s, capability {:.2} s; CPU {cpu:.2} s); {} yield rows, \
             worst Cpk {worst:.4}",
            rows.len(),
            total.as_secs_f64(),
            loaded.as_secs_f64(),
            (yielded - loaded).as_secs_f64(),
            (total - yielded).as_secs_f64(),
            report.rows.len(),
        );
        totals.push(total.as_secs_f64());
        cpus.push(cpu);
        last = Some((report, rows));
    }
    println!(
        "median of {rounds}: {:.2} s wall, {:.2} s CPU (load average {})",
        median(&mut totals),
        median(&mut cpus),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    if let Some((report, rows)) = &last {
        cached(&path, units, report, rows);
    }

    let start = Instant::now();
    // RIGOR_BENCH_SKIP_SQL: the shell takes minutes on a million units.
    let shell = if std::env::var_os("RIGOR_BENCH_SKIP_SQL").is_some() {
        "true"
    } else {
        "sqlite3"
    };
    let out = Command::new(shell).arg(&path).arg(SQL).output();
    match out {
        Ok(out) => println!(
            "sqlite3 shell, hand-written SQL: {:.2} s\n{}{}",
            start.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("sqlite3 shell not run: {e}"),
    }

    let parts = env_u64("RIGOR_BENCH_STDF_PARTS", 100_000) as usize;
    let all = source
        .runs(&Filter::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let first: Runs = Runs::new(all.iter().take(parts).cloned().collect());
    let file = path.with_extension("stdf");
    let start = Instant::now();
    let writer =
        std::io::BufWriter::new(std::fs::File::create(&file).unwrap_or_else(|e| panic!("{e}")));
    let summary = export_stdf(&source, &first, &StdfOptions::default(), writer)
        .unwrap_or_else(|e| panic!("{e}"));
    let took = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "STDF export of {} unit attempts ({} PTRs): {took:.2} s, {:.1} MB",
        summary.parts,
        summary.ptrs,
        bytes as f64 / 1e6
    );
}
