//! Exports read back by readers rigor did not write (pystdf, Semi_ATE.STDF, pandas), and the
//! statistics held against numpy. Python comes from `RIGOR_PYTHON` (CI points it at `.ci/venv`),
//! else `python3`; it needs `tests/requirements-readers.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::path::Path;
use std::process::Command;

use rigor_results::export::{StdfOptions, export_csv, export_stdf};
use rigor_results::{Filter, Runs, Source, SqliteSource};
use serde_json::Value;

const INSTALL: &str = "pip install -r harness/results/tests/requirements-readers.txt";

fn python(script: &str, args: &[&Path]) -> String {
    let python = std::env::var("RIGOR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script);
    let out = Command::new(&python)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; set RIGOR_PYTHON"));
    assert!(
        out.status.success(),
        "{script} failed (missing readers? `{INSTALL}` into the interpreter RIGOR_PYTHON names):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fixture() -> (common::TempStore, SqliteSource, Runs) {
    let t = common::fixture_store();
    let source = SqliteSource::open(&t.path).unwrap();
    let runs = source.runs(&Filter::default()).unwrap();
    (t, source, runs)
}

/// A B*1 field as an integer: pystdf gives one, Semi_ATE gives bit strings, bit 7 first.
fn flags(v: &Value) -> u8 {
    match v {
        Value::Number(n) => u8::try_from(n.as_u64().unwrap()).unwrap(),
        Value::Array(bits) => bits.iter().fold(0, |acc, b| {
            let bit = b
                .as_str()
                .map(|s| s == "1")
                .or(b.as_u64().map(|n| n == 1))
                .unwrap();
            acc << 1 | u8::from(bit)
        }),
        other => panic!("not a flag field: {other}"),
    }
}

fn close_f32(read: &Value, want: f64) -> bool {
    let read = read.as_f64().unwrap();
    // R*4 holds 24 bits of mantissa: the written value is the nearest float32.
    (read - want).abs() <= f64::from(f32::EPSILON) * want.abs().max(1.0)
}

/// Record names as each reader spells them, upper-cased.
fn types(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r[0].as_str().unwrap().to_uppercase())
        .collect()
}

#[test]
fn stdf_reads_back_value_by_value_in_pystdf_and_semi_ate() {
    let (t, source, runs) = fixture();
    let file = t.dir.path().join("out.stdf");
    let options = StdfOptions {
        lot_id: "lot-1".into(),
    };
    let summary = export_stdf(
        &source,
        &runs,
        &options,
        std::fs::File::create(&file).unwrap(),
    )
    .unwrap();
    assert_eq!(summary.parts, 14);
    let out: Value = serde_json::from_str(&python("read_stdf.py", &[&file])).unwrap();

    // What the file must say, from the store's rows, by run id (recording order).
    let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let measurements = source.measurements(&runs, None).unwrap();

    for reader in ["pystdf", "semi_ate"] {
        let records = out[reader].as_array().unwrap();
        let kinds = types(records);
        // Order: FAR, MIR, then parts (PIR, PTR…, PRR), then TSR…, HBR…, SBR…, PCR, MRR last.
        let mut expected_kinds = vec!["FAR".to_owned(), "MIR".to_owned()];
        for id in &ids {
            expected_kinds.push("PIR".into());
            let n = measurements.iter().filter(|m| m.run_id == *id).count();
            expected_kinds.extend(std::iter::repeat_n("PTR".to_owned(), n));
            expected_kinds.push("PRR".into());
        }
        expected_kinds.extend(["TSR", "TSR", "TSR"].map(str::to_owned));
        let bins = ["HBR", "HBR", "HBR"]; // pass, device fail, infrastructure
        expected_kinds.extend(bins.map(str::to_owned));
        expected_kinds.extend(["SBR", "SBR", "SBR", "PCR", "MRR"].map(str::to_owned));
        assert_eq!(kinds, expected_kinds, "{reader}: record order");

        assert_eq!(records[0][1]["CPU_TYPE"], 2, "{reader}");
        assert_eq!(records[0][1]["STDF_VER"], 4, "{reader}");
        assert_eq!(records[1][1]["LOT_ID"], "lot-1", "{reader}");
        assert_eq!(records[1][1]["FAMLY_ID"], "sensor-node", "{reader}");

        let parts: Vec<&Value> = records
            .iter()
            .filter(|r| r[0].as_str().unwrap().eq_ignore_ascii_case("prr"))
            .collect();
        let ptrs: Vec<&Value> = records
            .iter()
            .filter(|r| r[0].as_str().unwrap().eq_ignore_ascii_case("ptr"))
            .collect();
        assert_eq!(parts.len(), ids.len(), "{reader}");
        for (prr, id) in parts.iter().zip(&ids) {
            let run = runs.get(*id).unwrap();
            let f = &prr[1];
            assert_eq!(f["PART_ID"], run.serial.as_str(), "{reader} run {id}");
            let part_flg = flags(&f["PART_FLG"]);
            assert_eq!(
                part_flg & 0x01 != 0,
                run.attempt > 1,
                "{reader} run {id}: retest bit"
            );
            assert_eq!(
                part_flg & 0x08 != 0,
                run.status.as_str() != "pass",
                "{reader} run {id}: fail bit"
            );
            let bin = match (run.status.as_str(), run.failure_class.map(|c| c.as_str())) {
                ("pass", _) => 1,
                (_, Some("device")) => 2,
                (_, Some("infrastructure")) => 3,
                _ => 4,
            };
            assert_eq!(f["HARD_BIN"], bin, "{reader} run {id}");
            assert_eq!(f["SOFT_BIN"], bin, "{reader} run {id}");
            let n = measurements.iter().filter(|m| m.run_id == *id).count();
            assert_eq!(f["NUM_TEST"], n, "{reader} run {id}");
        }
        let mut sorted: Vec<_> = measurements.clone();
        sorted.sort_by_key(|m| (m.run_id, m.seq));
        assert_eq!(ptrs.len(), sorted.len(), "{reader}");
        for (ptr, m) in ptrs.iter().zip(&sorted) {
            let f = &ptr[1];
            let at = format!("{reader} run {} {}", m.run_id, m.name);
            assert_eq!(f["TEST_TXT"], &*m.name, "{at}");
            assert!(
                close_f32(&f["RESULT"], m.value.unwrap()),
                "{at}: {}",
                f["RESULT"]
            );
            assert_eq!(f["UNITS"], m.unit.as_deref().unwrap_or(""), "{at}");
            let test_flg = flags(&f["TEST_FLG"]);
            assert_eq!(
                test_flg & 0x80 != 0,
                m.outcome.as_str() == "fail",
                "{at}: fail bit"
            );
            assert_eq!(test_flg & 0x7f, 0, "{at}: only the fail bit");
            let parm = flags(&f["PARM_FLG"]);
            let v = m.value.unwrap();
            assert_eq!(
                parm & 0x08 != 0,
                m.high.is_some_and(|h| v > h),
                "{at}: above high"
            );
            assert_eq!(
                parm & 0x10 != 0,
                m.low.is_some_and(|l| v < l),
                "{at}: below low"
            );
            assert_eq!(parm & 0x40 != 0, m.low_inclusive, "{at}: low inclusive");
            assert_eq!(parm & 0x80 != 0, m.high_inclusive, "{at}: high inclusive");
            let opt = flags(&f["OPT_FLAG"]);
            assert_eq!(opt & 0x02, 0x02, "{at}: reserved bit 1");
            assert_eq!(opt & 0x0c, 0x0c, "{at}: no spec limits");
            assert_eq!(opt & 0x40 != 0, m.low.is_none(), "{at}: no low limit");
            assert_eq!(opt & 0x80 != 0, m.high.is_none(), "{at}: no high limit");
            if let Some(low) = m.low {
                assert!(close_f32(&f["LO_LIMIT"], low), "{at}");
            }
            if let Some(high) = m.high {
                assert!(close_f32(&f["HI_LIMIT"], high), "{at}");
            }
        }
        let tsrs: Vec<&Value> = records
            .iter()
            .filter(|r| r[0].as_str().unwrap().eq_ignore_ascii_case("tsr"))
            .collect();
        for tsr in tsrs {
            let name = tsr[1]["TEST_NAM"].as_str().unwrap();
            let of: Vec<_> = measurements.iter().filter(|m| &*m.name == name).collect();
            assert_eq!(tsr[1]["EXEC_CNT"], of.len(), "{reader} {name}");
            let fails = of.iter().filter(|m| m.outcome.as_str() == "fail").count();
            assert_eq!(tsr[1]["FAIL_CNT"], fails, "{reader} {name}");
            let min = of
                .iter()
                .map(|m| m.value.unwrap())
                .fold(f64::INFINITY, f64::min);
            assert!(close_f32(&tsr[1]["TEST_MIN"], min), "{reader} {name}");
        }
        let pcr = records
            .iter()
            .find(|r| r[0].as_str().unwrap().eq_ignore_ascii_case("pcr"))
            .unwrap();
        assert_eq!(pcr[1]["PART_CNT"], 14, "{reader}");
        assert_eq!(
            pcr[1]["RTST_CNT"],
            runs.iter().filter(|r| r.attempt > 1).count(),
            "{reader}"
        );
        assert_eq!(
            pcr[1]["GOOD_CNT"],
            runs.iter().filter(|r| r.status.as_str() == "pass").count(),
            "{reader}"
        );
        let hbr_counts: Vec<(u64, u64)> = records
            .iter()
            .filter(|r| r[0].as_str().unwrap().eq_ignore_ascii_case("hbr"))
            .map(|r| {
                (
                    r[1]["HBIN_NUM"].as_u64().unwrap(),
                    r[1]["HBIN_CNT"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(hbr_counts, [(1, 8), (2, 5), (3, 1)], "{reader}");
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn csv_loads_in_pandas_and_numbers_match_numpy() {
    use rigor_results::synth::{SynthConfig, synth};
    use rigor_results::{Dimension, capability, spc, yield_report};

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("synth.db");
    let config = SynthConfig {
        units: 900,
        measurements: 4,
        seed: 7,
        ..SynthConfig::default()
    };
    let made = synth(&store, &config).unwrap();
    assert!(made.runs > made.units, "the generator retests: {made:?}");
    let source = SqliteSource::open(&store).unwrap();
    let runs = source.runs(&Filter::default()).unwrap();

    let tall = dir.path().join("tall.csv");
    let limits = dir.path().join("limits.csv");
    let summary = export_csv(
        &source,
        &runs,
        std::fs::File::create(&tall).unwrap(),
        std::fs::File::create(&limits).unwrap(),
    )
    .unwrap();
    let out: Value = serde_json::from_str(&python(
        "cross_check.py",
        &[&store, &tall, &limits, Path::new("m01")],
    ))
    .unwrap();

    assert_eq!(out["rows"], summary.rows);
    assert_eq!(out["limits_rows"], summary.limits);
    let dtypes = &out["dtypes"];
    for (column, want) in [
        ("attempt", "int64"),
        ("run_id", "int64"),
        ("step_index", "int64"),
        ("value", "float64"),
        ("low", "float64"),
        ("high", "float64"),
        ("low_inclusive", "bool"),
        ("high_inclusive", "bool"),
        ("marginal", "bool"),
        ("serial", "string"),
    ] {
        assert_eq!(dtypes[column], want, "tall.{column}");
    }
    for column in ["started_at", "measured_at"] {
        let t = dtypes[column].as_str().unwrap();
        assert!(
            t.starts_with("datetime64") && t.contains("UTC"),
            "tall.{column}: {t}"
        );
    }
    assert_eq!(out["limits_dtypes"]["readings"], "int64");

    // Capability: every group, every number.
    let rows = capability(&source, &runs, None).unwrap();
    let expected = out["capability"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    for e in expected {
        let r = rows
            .iter()
            .find(|r| {
                r.measurement == e["measurement"].as_str().unwrap()
                    && r.generation == e["generation"].as_str().unwrap()
                    && r.n == e["n"].as_u64().unwrap()
                    && close(r.mean.unwrap(), e["mean"].as_f64().unwrap())
            })
            .unwrap_or_else(|| panic!("no rust row for {e}"));
        for (ours, theirs) in [
            (r.sigma_overall, &e["sigma_overall"]),
            (r.sigma_within, &e["sigma_within"]),
            (r.cpk, &e["cpk"]),
            (r.ppk, &e["ppk"]),
        ] {
            assert!(
                close(ours.unwrap(), theirs.as_f64().unwrap()),
                "{e} vs {r:?}"
            );
        }
    }

    // Yield over the store's own tables, read by pandas.
    let report = yield_report(&runs, Dimension::All, &[]);
    let smoke = &report.rows[0];
    let theirs = &out["yield"]["smoke"];
    assert_eq!(theirs["judged"], smoke.judged);
    assert!(close(
        smoke.first_pass_yield.unwrap(),
        theirs["first_pass_yield"].as_f64().unwrap()
    ));
    assert!(close(
        smoke.final_yield.unwrap(),
        theirs["final_yield"].as_f64().unwrap()
    ));
    assert!(smoke.infrastructure_runs > 0, "fixture 8 loses units");

    // Control limits.
    let chart = spc(&source, &runs, "m01").unwrap().unwrap();
    for (ours, key) in [
        (chart.center, "center"),
        (chart.ucl, "ucl"),
        (chart.lcl, "lcl"),
        (chart.mr_ucl, "mr_ucl"),
    ] {
        assert!(
            close(ours, out["spc"][key].as_f64().unwrap()),
            "{key}: {ours} vs {}",
            out["spc"][key]
        );
    }
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn openhtf_json_matches_what_openhtf_writes_for_the_same_test() {
    use rigor_results::export::openhtf_record;
    use rigor_results::unit_history;

    let (t, source, _) = fixture();
    // SN2 attempt 2 passed both steps; SN4 attempt 1 failed vbat (its later step was skipped,
    // which OpenHTF would not have run: only the steps that ran are compared).
    for (serial, attempt) in [("SN2", 2), ("SN4", 1)] {
        let history = unit_history(&source, serial, &Filter::default()).unwrap();
        let a = history
            .iter()
            .find(|a| &*a.run.scenario == "smoke" && a.run.attempt == attempt)
            .unwrap();
        let ours = openhtf_record(&a.run, &a.steps, &a.measurements, &a.artifacts);
        let ran: Vec<_> = a
            .steps
            .iter()
            .filter(|s| s.outcome.as_str() != "skipped")
            .collect();
        let spec = serde_json::json!({
            "dut_id": serial, "test_name": "smoke", "test_version": &*a.run.scenario_version,
            "station_id": &*a.run.station,
            "phases": ran.iter().map(|s| serde_json::json!({
                "name": &*s.step_id,
                "measurements": a.measurements.iter().filter(|m| m.step_index == s.index).map(|m| serde_json::json!({
                    "name": &*m.name, "value": m.value, "low": m.low, "high": m.high, "unit": m.unit.as_deref(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let spec_path = t.dir.path().join(format!("{serial}.spec.json"));
        let theirs_path = t.dir.path().join(format!("{serial}.openhtf.json"));
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        python("openhtf_reference.py", &[&spec_path, &theirs_path]);
        let theirs: Value =
            serde_json::from_str(&std::fs::read_to_string(&theirs_path).unwrap()).unwrap();

        assert_eq!(keys(&ours), keys(&theirs), "{serial}: record keys");
        for field in [
            "dut_id",
            "outcome",
            "outcome_details",
            "marginal",
            "station_id",
        ] {
            assert_eq!(ours[field], theirs[field], "{serial}: {field}");
        }
        for field in ["test_name", "test_version"] {
            assert_eq!(
                ours["metadata"][field], theirs["metadata"][field],
                "{serial}: metadata.{field}"
            );
        }
        let their_phases = theirs["phases"].as_array().unwrap();
        assert_eq!(their_phases.len(), ran.len(), "{serial}: phases that ran");
        for tp in their_phases {
            let name = tp["name"].as_str().unwrap();
            let op = ours["phases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{serial}: no phase {name}"));
            let at = format!("{serial} phase {name}");
            assert_eq!(keys(op), keys(tp), "{at}: keys");
            assert_eq!(
                keys(&op["options"]),
                keys(&tp["options"]),
                "{at}: option keys"
            );
            for field in [
                "outcome",
                "result",
                "marginal",
                "subtest_name",
                "diagnosers",
            ] {
                assert_eq!(op[field], tp[field], "{at}: {field}");
            }
            assert_eq!(
                op["options"]["name"], tp["options"]["name"],
                "{at}: options.name"
            );
            let (ours_m, theirs_m) = (&op["measurements"], &tp["measurements"]);
            assert_eq!(keys(ours_m), keys(theirs_m), "{at}: measurement names");
            for m in a.measurements.iter() {
                let (o, t) = (&ours_m[&*m.name], &theirs_m[&*m.name]);
                if t.is_null() {
                    continue; // another phase's
                }
                assert_eq!(keys(o), keys(t), "{at} {}: keys", m.name);
                for field in ["name", "outcome", "units", "measured_value"] {
                    assert_eq!(o[field], t[field], "{at} {}: {field}", m.name);
                }
                // OpenHTF's range validator is inclusive only; rigor's exclusive bounds keep
                // their own text.
                if m.low_inclusive && m.high_inclusive {
                    assert_eq!(o["validators"], t["validators"], "{at} {}", m.name);
                } else {
                    assert_eq!(
                        o["validators"],
                        serde_json::json!(["x < 0.5"]),
                        "{at} {}",
                        m.name
                    );
                }
            }
        }
    }
}
