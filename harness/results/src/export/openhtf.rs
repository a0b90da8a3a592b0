//! OpenHTF test records, in the JSON that OpenHTF 1.6.3's `OutputToJSON` writes: one record
//! per unit attempt, one phase per executed step, measurements with validators and units.
//!
//! What rigor does not have is written as OpenHTF leaves it empty (diagnosers, log records,
//! code info); artifacts are listed by name, media type and SHA-256 without their content, which
//! stays in the store.

use std::collections::BTreeMap;
use std::path::Path;

use rigor_store::{MeasurementOutcome, RunStatus, StepOutcome};
use serde_json::{Map, Value, json};

use crate::error::ResultsError;
use crate::rows::{Measurement, Run, Runs};
use crate::source::Source;
use crate::unit::unit_history;

/// OpenHTF's unit descriptor (UNECE code) for a rigor unit symbol.
fn units(symbol: Option<&str>) -> Value {
    let (name, code, suffix) = match symbol {
        Some("V") => ("volt", "VLT", "V"),
        Some("mV") => ("millivolt", "2Z", "mV"),
        Some("A") => ("ampere", "AMP", "A"),
        Some("mA") => ("milliampere", "4K", "mA"),
        Some("W") => ("watt", "WTT", "W"),
        Some("Hz") => ("hertz", "HTZ", "Hz"),
        Some("°C") => ("degree Celsius", "CEL", "°C"),
        Some("s") => ("second [unit of time]", "SEC", "s"),
        Some("ms") => ("millisecond", "C26", "ms"),
        Some("%") => ("percent", "P1", "%"),
        _ => return Value::Null,
    };
    json!({ "name": name, "code": code, "suffix": suffix })
}

fn millis(us: i64) -> i64 {
    us.div_euclid(1000)
}

/// A validator's text as OpenHTF prints its range validators (`3.2 <= x <= 3.4`, `x <= 0.5`).
fn validator(m: &Measurement) -> Vec<Value> {
    if m.low.is_none() && m.high.is_none() {
        return if &*m.comparator == "any" {
            Vec::new()
        } else {
            vec![Value::from(&*m.comparator)]
        };
    }
    let low = m
        .low
        .map(|l| format!("{l} {} ", if m.low_inclusive { "<=" } else { "<" }));
    let high = m
        .high
        .map(|h| format!(" {} {h}", if m.high_inclusive { "<=" } else { "<" }));
    vec![Value::from(format!(
        "{}x{}",
        low.unwrap_or_default(),
        high.unwrap_or_default()
    ))]
}

fn phase_options(name: &str) -> Value {
    json!({
        "name": name, "timeout_s": null, "run_if": null, "requires_state": false,
        "force_repeat": false, "repeat_on_measurement_fail": false, "repeat_on_timeout": false,
        "repeat_limit": null, "run_under_pdb": false, "phase_name_case": "KEEP",
        "stop_on_measurement_fail": false
    })
}

/// What the phase told OpenHTF's executor: a failed measurement does not stop a test in OpenHTF
/// (nor does rigor's record hide the steps after it: they are there, skipped).
fn phase_result(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Pass | StepOutcome::Fail => "CONTINUE",
        StepOutcome::Error => "STOP",
        StepOutcome::Skipped => "SKIP",
    }
}

/// One attempt as an OpenHTF test record.
pub fn openhtf_record(
    run: &Run,
    steps: &[crate::rows::Step],
    measurements: &[Measurement],
    artifacts: &[crate::rows::Artifact],
) -> Value {
    let outcome = match run.status {
        RunStatus::Pass => "PASS",
        RunStatus::Fail => "FAIL",
        RunStatus::Error | RunStatus::Incomplete => "ERROR",
        RunStatus::Aborted => "ABORTED",
    };
    let mut details = Vec::new();
    if run.status == RunStatus::Incomplete {
        details.push(json!({ "code": "INCOMPLETE", "description": "no end recorded" }));
    } else if let (RunStatus::Error | RunStatus::Aborted, Some(class)) =
        (run.status, run.failure_class)
    {
        let text = run.message.clone().unwrap_or_default();
        details.push(json!({ "code": class.as_str().to_uppercase(), "description": text }));
    }
    let marginal = measurements.iter().any(|m| m.marginal);
    let phases: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut ms = Map::new();
            for m in measurements.iter().filter(|m| m.step_index == s.index) {
                let value = match (&m.value, &m.text_value) {
                    (Some(v), _) => json!(v),
                    (None, Some(t)) => json!(t),
                    (None, None) => Value::Null,
                };
                let outcome = match m.outcome {
                    MeasurementOutcome::Pass => "PASS",
                    MeasurementOutcome::Fail => "FAIL",
                };
                // OpenHTF leaves out the keys of what a measurement does not declare.
                let mut entry = Map::new();
                entry.insert("name".into(), json!(&*m.name));
                entry.insert("outcome".into(), json!(outcome));
                let validators = validator(m);
                if !validators.is_empty() {
                    entry.insert("validators".into(), json!(validators));
                }
                let units = units(m.unit.as_deref());
                if !units.is_null() {
                    entry.insert("units".into(), units);
                }
                entry.insert("measured_value".into(), value);
                ms.insert(m.name.to_string(), Value::Object(entry));
            }
            let mut attachments = Map::new();
            for a in artifacts.iter().filter(|a| a.step_index == Some(s.index)) {
                attachments.insert(
                    a.name.clone(),
                    json!({ "mimetype": a.media_type, "sha256": a.sha256, "size": a.size }),
                );
            }
            let outcome = match s.outcome {
                StepOutcome::Pass => "PASS",
                StepOutcome::Fail => "FAIL",
                StepOutcome::Error => "ERROR",
                StepOutcome::Skipped => "SKIP",
            };
            let phase_marginal = if s.outcome == StepOutcome::Pass {
                json!(
                    measurements
                        .iter()
                        .any(|m| m.step_index == s.index && m.marginal)
                )
            } else {
                Value::Null
            };
            json!({
                "measurements": ms,
                "options": phase_options(&s.step_id),
                "diagnosers": [],
                "subtest_name": null,
                "start_time_millis": millis(s.started_at_us),
                "end_time_millis": millis(s.ended_at_us),
                "attachments": attachments,
                "diagnosis_results": [],
                "failure_diagnosis_results": [],
                "result": { "phase_result": phase_result(s.outcome) },
                "outcome": outcome,
                "marginal": phase_marginal,
                "descriptor_id": s.index,
                "name": &*s.step_id,
                "codeinfo": { "name": &*s.kind, "docstring": null, "sourcecode": "" },
            })
        })
        .collect();
    json!({
        "dut_id": run.serial,
        "start_time_millis": millis(run.started_at_us),
        "end_time_millis": millis(run.ended_at_us.unwrap_or(run.started_at_us)),
        "outcome": outcome,
        "outcome_details": details,
        "marginal": if run.status == RunStatus::Pass { json!(marginal) } else { Value::Null },
        "metadata": {
            "test_name": &*run.scenario,
            "test_version": &*run.scenario_version,
            "config": {},
            "rigor": {
                "run_id": run.id, "attempt": run.attempt, "family": &*run.family,
                "generation": &*run.generation, "rig": &*run.rig, "slot": &*run.slot,
                "fixture": run.fixture.as_deref(), "operator": &*run.operator,
                "firmware": run.firmware.as_deref(), "limits_sha256": &*run.limits_sha256,
            },
        },
        "phases": phases,
        "subtests": [],
        "branches": [],
        "diagnosers": [],
        "diagnoses": [],
        "log_records": [],
        "station_id": &*run.station,
        "code_info": { "name": "", "docstring": null, "sourcecode": "" },
    })
}

/// Writes one OpenHTF JSON file per attempt of `runs` into `dir`, named
/// `SERIAL.SCENARIO.ATTEMPT.json`; returns how many.
pub fn export_openhtf(source: &dyn Source, runs: &Runs, dir: &Path) -> Result<u64, ResultsError> {
    let write_err = |what: String| move |source| ResultsError::Write { what, source };
    std::fs::create_dir_all(dir).map_err(write_err(format!("folder {}", dir.display())))?;
    let mut by_serial: BTreeMap<&str, ()> = BTreeMap::new();
    for run in runs.iter() {
        by_serial.insert(&run.serial, ());
    }
    let mut written = 0;
    for serial in by_serial.keys() {
        let filter = crate::filter::Filter {
            serial: Some((*serial).to_owned()),
            ..crate::filter::Filter::default()
        };
        for attempt in unit_history(source, serial, &filter)? {
            if runs.get(attempt.run.id).is_none() {
                continue;
            }
            let record = openhtf_record(
                &attempt.run,
                &attempt.steps,
                &attempt.measurements,
                &attempt.artifacts,
            );
            let name = format!(
                "{}.{}.{}.json",
                serial, attempt.run.scenario, attempt.run.attempt
            );
            let path = dir.join(name.replace(['/', '\\'], "_"));
            let text = serde_json::to_string_pretty(&record)?;
            std::fs::write(&path, text).map_err(write_err(path.display().to_string()))?;
            written += 1;
        }
    }
    Ok(written)
}
