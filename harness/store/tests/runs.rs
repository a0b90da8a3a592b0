//! Recording runs and reading them back through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{TempStore, dump, end, measurement, start, step};
use rigor_store::{
    FailureClass, MeasurementOutcome, RunId, RunOutcome, RunStatus, StepOutcome, Store, StoreError,
    Timestamp, YieldFilter,
};

#[test]
fn second_run_of_unit_and_scenario_is_attempt_two_and_leaves_attempt_one_untouched() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let first = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    store
        .record_step(first.id, &step(0, StepOutcome::Fail))
        .unwrap();
    store
        .record_measurement(first.id, &measurement(0, 3.9))
        .unwrap();
    store
        .store_artifact(first.id, Some(0), "console.log", "text/plain", b"boot\n")
        .unwrap();
    store
        .end_run(first.id, &end(RunOutcome::Fail, 200))
        .unwrap();
    assert_eq!(first.attempt, 1);

    let raw = tmp.raw();
    let before: Vec<_> = common::RUN_TABLES
        .iter()
        .map(|(table, column)| dump(&raw, table, &format!("{column} = {}", first.id)))
        .chain([dump(&raw, "units", "1"), dump(&raw, "artifact_blobs", "1")])
        .collect();
    assert!(before.iter().all(|rows| !rows.is_empty()));

    let second = store.begin_run(&start("SN1", "boot", 300)).unwrap();
    assert_eq!(second.attempt, 2);
    store
        .record_step(second.id, &step(0, StepOutcome::Pass))
        .unwrap();
    store
        .record_measurement(second.id, &measurement(0, 3.3))
        .unwrap();
    store
        .store_artifact(second.id, Some(0), "console.log", "text/plain", b"boot\n")
        .unwrap();
    store
        .end_run(second.id, &end(RunOutcome::Pass, 400))
        .unwrap();

    let after: Vec<_> = common::RUN_TABLES
        .iter()
        .map(|(table, column)| dump(&raw, table, &format!("{column} = {}", first.id)))
        .chain([dump(&raw, "units", "1"), dump(&raw, "artifact_blobs", "1")])
        .collect();
    assert_eq!(before, after);

    // Another scenario, and another unit, count their own attempts.
    assert_eq!(
        store
            .begin_run(&start("SN1", "radio", 500))
            .unwrap()
            .attempt,
        1
    );
    assert_eq!(
        store.begin_run(&start("SN2", "boot", 600)).unwrap().attempt,
        1
    );
    assert_eq!(
        store.begin_run(&start("SN1", "boot", 700)).unwrap().attempt,
        3
    );
}

#[test]
fn run_detail_returns_what_was_recorded() {
    let mut store = Store::open_in_memory().unwrap();
    let run_start = start("SN1", "boot", 100);
    let run = store.begin_run(&run_start).unwrap();
    let mut retried = step(1, StepOutcome::Pass);
    retried.step_id = "step-0".to_owned();
    retried.attempt = 2;
    let mut text = measurement(1, 0.0);
    text.name = "fw_version".to_owned();
    text.value = None;
    text.text_value = Some("v2.4.1".to_owned());
    text.unit = None;
    let mut nan = measurement(1, f64::NAN);
    nan.name = "noise".to_owned();
    store
        .record_step(run.id, &step(0, StepOutcome::Fail))
        .unwrap();
    store
        .record_measurement(run.id, &measurement(0, 3.1))
        .unwrap();
    store.record_measurement(run.id, &text).unwrap();
    store.record_measurement(run.id, &nan).unwrap();
    store.record_step(run.id, &retried).unwrap();
    let run_end = rigor_store::RunEnd {
        ended_at: Timestamp(900),
        outcome: RunOutcome::Pass,
        failure_class: None,
        message: Some("passed on retry".to_owned()),
    };
    store.end_run(run.id, &run_end).unwrap();

    let detail = store.run_detail(run.id).unwrap();
    assert_eq!(detail.id, run.id);
    assert_eq!(detail.attempt, 1);
    assert_eq!(detail.start, run_start);
    assert_eq!(detail.end, Some(run_end));
    assert_eq!(detail.steps, vec![step(0, StepOutcome::Fail), retried]);
    let mut nan_back = nan.clone();
    nan_back.value = None; // NaN is stored as NULL
    assert_eq!(
        detail.measurements,
        vec![measurement(0, 3.1), text, nan_back]
    );
    assert!(detail.artifacts.is_empty());
    assert!(
        serde_json::to_string(&detail)
            .unwrap()
            .contains("\"outcome\":\"pass\"")
    );

    let err = store.run_detail(RunId(99)).unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun(RunId(99))), "{err:?}");
}

#[test]
fn incomplete_run_is_visible_until_its_end_row() {
    let mut store = Store::open_in_memory().unwrap();
    let done = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    store.end_run(done.id, &end(RunOutcome::Pass, 150)).unwrap();
    let open = store.begin_run(&start("SN2", "boot", 200)).unwrap();
    store
        .record_step(open.id, &step(0, StepOutcome::Pass))
        .unwrap();

    let incomplete = store.incomplete_runs().unwrap();
    assert_eq!(incomplete.len(), 1);
    assert_eq!(incomplete[0].run_id, open.id);
    assert_eq!(incomplete[0].status, RunStatus::Incomplete);
    assert_eq!(incomplete[0].ended_at, None);
    assert!(store.run_detail(open.id).unwrap().end.is_none());

    store
        .end_run(open.id, &end(RunOutcome::Aborted, 250))
        .unwrap();
    assert!(store.incomplete_runs().unwrap().is_empty());
    let runs = store.runs_of_unit("SN2").unwrap();
    assert_eq!(runs[0].status, RunStatus::Aborted);
}

#[test]
fn a_run_ends_once_and_is_sealed_after() {
    let mut store = Store::open_in_memory().unwrap();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    store.end_run(run.id, &end(RunOutcome::Fail, 200)).unwrap();

    let err = store
        .end_run(run.id, &end(RunOutcome::Pass, 300))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RunAlreadyEnded(id) if id == run.id),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("run {} has already ended", run.id));
    let err = store
        .record_step(run.id, &step(0, StepOutcome::Pass))
        .unwrap_err();
    assert!(matches!(err, StoreError::RunAlreadyEnded(_)), "{err:?}");
    let err = store
        .record_measurement(run.id, &measurement(0, 3.3))
        .unwrap_err();
    assert!(matches!(err, StoreError::RunAlreadyEnded(_)), "{err:?}");
    let err = store
        .store_artifact(run.id, None, "log", "text/plain", b"x")
        .unwrap_err();
    assert!(matches!(err, StoreError::RunAlreadyEnded(_)), "{err:?}");

    // The first end stands.
    let summary = &store.runs_of_unit("SN1").unwrap()[0];
    assert_eq!(summary.status, RunStatus::Fail);
    assert_eq!(summary.failure_class, Some(FailureClass::Device));
}

#[test]
fn records_for_unknown_runs_and_duplicate_steps_are_typed_errors() {
    let mut store = Store::open_in_memory().unwrap();
    let err = store
        .record_step(RunId(7), &step(0, StepOutcome::Pass))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun(RunId(7))), "{err:?}");
    let err = store
        .end_run(RunId(7), &end(RunOutcome::Pass, 1))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun(RunId(7))), "{err:?}");

    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    store
        .record_step(run.id, &step(0, StepOutcome::Pass))
        .unwrap();
    let err = store
        .record_step(run.id, &step(0, StepOutcome::Fail))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateStep { index: 0, .. }),
        "{err:?}"
    );

    let mut marginal_fail = measurement(0, 9.0);
    marginal_fail.marginal = true;
    let err = store
        .record_measurement(run.id, &marginal_fail)
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "measurement.marginal",
            ..
        }
    ));
}

#[test]
fn a_unit_keeps_the_family_and_generation_it_was_first_seen_with() {
    let mut store = Store::open_in_memory().unwrap();
    store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let mut other = start("SN1", "boot", 200);
    other.unit.generation = "gen4".to_owned();
    let err = store.begin_run(&other).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit SN1 was first recorded as sensor-node/gen3, not sensor-node/gen4"
    );
    // Nothing of the refused run was written.
    assert_eq!(store.runs_of_unit("SN1").unwrap().len(), 1);

    let mut bad = start("SN2", "boot", 300);
    bad.limits_sha256 = "not-a-digest".to_owned();
    let err = store.begin_run(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "limits_sha256",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(store.runs_of_unit("SN2").unwrap().is_empty());
}

#[test]
fn identical_artifacts_are_stored_once_and_linked_twice() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let a = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let b = store.begin_run(&start("SN2", "boot", 100)).unwrap();
    let content = b"the same console log\n".repeat(100);
    let sha_a = store
        .store_artifact(a.id, Some(0), "console.log", "text/plain", &content)
        .unwrap();
    let sha_b = store
        .store_artifact(b.id, None, "boot.log", "text/plain", &content)
        .unwrap();
    let other = store
        .store_artifact(
            b.id,
            None,
            "trace.bin",
            "application/octet-stream",
            b"\x00\x01",
        )
        .unwrap();
    assert_eq!(sha_a, sha_b);
    assert_eq!(sha_a, rigor_store::sha256_hex(&content));
    assert_ne!(sha_a, other);

    let raw = tmp.raw();
    let blobs: i64 = raw
        .query_row("SELECT count(*) FROM artifact_blobs", [], |r| r.get(0))
        .unwrap();
    let links: i64 = raw
        .query_row("SELECT count(*) FROM run_artifacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!((blobs, links), (2, 3));
    assert_eq!(
        store.artifact_content(&sha_a).unwrap(),
        Some(content.clone())
    );
    assert_eq!(store.artifact_content(&"0".repeat(64)).unwrap(), None);

    let detail = store.run_detail(b.id).unwrap();
    let names: Vec<_> = detail.artifacts.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["boot.log", "trace.bin"]);
    assert_eq!(detail.artifacts[0].size, content.len() as u64);
    assert_eq!(detail.artifacts[0].step_index, None);

    let err = store
        .store_artifact(a.id, None, "x", "plain", b"")
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "media_type",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Starts a run of `serial` × `scenario` at `at`, and ends it with `outcome` if given.
fn run(store: &mut Store, serial: &str, scenario: &str, at: i64, outcome: Option<RunOutcome>) {
    let handle = store
        .begin_run(&common::start(serial, scenario, at))
        .unwrap();
    if let Some(outcome) = outcome {
        store.end_run(handle.id, &end(outcome, at + 1)).unwrap();
    }
}

#[test]
fn footprint_is_attempts_up_to_the_first_pass_per_scenario_in_time_order() {
    use RunOutcome::{Error, Fail, Pass};
    let mut store = Store::open_in_memory().unwrap();
    run(&mut store, "SN1", "boot", 10, Some(Fail));
    run(&mut store, "SN1", "radio", 15, Some(Pass));
    run(&mut store, "SN1", "boot", 20, Some(Error));
    run(&mut store, "SN1", "boot", 30, Some(Pass)); // first pass of boot: attempt 3
    run(&mut store, "SN1", "radio", 40, Some(Fail)); // after radio passed: not footprint
    run(&mut store, "SN1", "boot", 50, Some(Fail)); // retest after pass: not footprint
    run(&mut store, "SN1", "power", 60, Some(Fail)); // never passed: all attempts
    run(&mut store, "SN1", "power", 70, None); // incomplete, still part of it
    run(&mut store, "SN2", "boot", 5, Some(Pass)); // another unit

    let footprint: Vec<_> = store
        .footprint("SN1")
        .unwrap()
        .into_iter()
        .map(|r| (r.scenario_name, r.attempt, r.status))
        .collect();
    let s = |name: &str| name.to_owned();
    assert_eq!(
        footprint,
        vec![
            (s("boot"), 1, RunStatus::Fail),
            (s("radio"), 1, RunStatus::Pass),
            (s("boot"), 2, RunStatus::Error),
            (s("boot"), 3, RunStatus::Pass),
            (s("power"), 1, RunStatus::Fail),
            (s("power"), 2, RunStatus::Incomplete),
        ]
    );
    assert_eq!(store.runs_of_unit("SN1").unwrap().len(), 8);
    assert!(store.footprint("SN404").unwrap().is_empty());
}

#[test]
fn first_pass_yield_counts_each_unit_at_its_first_attempt_that_judged_the_device() {
    use RunOutcome::{Error, Fail, Pass};
    let mut store = Store::open_in_memory().unwrap();
    run(&mut store, "SN1", "boot", 10, Some(Pass));
    run(&mut store, "SN2", "boot", 10, Some(Fail));
    run(&mut store, "SN2", "boot", 20, Some(Pass));
    run(&mut store, "SN3", "boot", 10, Some(Error)); // infrastructure
    run(&mut store, "SN4", "boot", 10, None); // incomplete: not counted
    run(&mut store, "SN1", "radio", 10, Some(Pass));

    let boot = store
        .first_pass_yield(&YieldFilter {
            scenario: Some("boot".to_owned()),
            ..YieldFilter::default()
        })
        .unwrap();
    assert_eq!(boot.len(), 1);
    let row = &boot[0];
    assert_eq!(
        (row.family.as_str(), row.generation.as_str()),
        ("sensor-node", "gen3")
    );
    // SN3's only attempt failed for the rig (an error classed infrastructure): counted beside
    // the yield, never against the unit.
    assert_eq!(row.units, 3);
    assert_eq!(row.judged, 2);
    assert_eq!(row.first_pass, 1);
    assert_eq!(row.final_pass, 2);
    assert_eq!(row.unjudged, 1);
    assert_eq!(row.infrastructure_runs, 1);
    assert_eq!(row.first_pass_yield, Some(0.5));
    assert_eq!(row.final_yield, Some(1.0));

    let all = store.first_pass_yield(&YieldFilter::default()).unwrap();
    let names: Vec<_> = all.iter().map(|r| r.scenario_name.as_str()).collect();
    assert_eq!(names, ["boot", "radio"]);
    let none = store
        .first_pass_yield(&YieldFilter {
            generation: Some("gen9".to_owned()),
            ..YieldFilter::default()
        })
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn measurement_outcome_and_marginal_flag_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let mut m = measurement(0, 3.21);
    m.marginal = true;
    assert_eq!(m.outcome, MeasurementOutcome::Pass);
    store.record_measurement(run.id, &m).unwrap();
    assert_eq!(store.run_detail(run.id).unwrap().measurements, vec![m]);
}

#[test]
fn a_step_with_its_measurements_is_written_whole_or_not_at_all() {
    let mut store = Store::open_in_memory().unwrap();
    let run = store.begin_run(&start("SN1", "boot", 100)).unwrap();
    let taken = [measurement(0, 3.3), measurement(0, 3.25)];
    store
        .record_step_with_measurements(run.id, &step(0, StepOutcome::Pass), &taken)
        .unwrap();

    // Step index 0 again: refused, and its measurement with it.
    let err = store
        .record_step_with_measurements(run.id, &step(0, StepOutcome::Fail), &[measurement(0, 1.0)])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateStep { index: 0, .. }),
        "{err:?}"
    );
    let mut bad = measurement(1, 9.0);
    bad.marginal = true;
    let err = store
        .record_step_with_measurements(run.id, &step(1, StepOutcome::Fail), &[bad])
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");

    let detail = store.run_detail(run.id).unwrap();
    assert_eq!(detail.steps, vec![step(0, StepOutcome::Pass)]);
    assert_eq!(detail.measurements, taken.to_vec());
}

#[test]
fn a_fixture_that_does_not_count_is_counted_per_rig_slot_and_a_reported_count_is_kept() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let counted = |slot: &str, serial: &str, at: i64| {
        let mut s = start(serial, "smoke", at);
        s.slot = slot.to_owned();
        s.fixture.as_mut().unwrap().insertions = None;
        s
    };
    let insertions = |store: &mut rigor_store::Store, s: &rigor_store::RunStart| {
        let run = store.begin_run(s).unwrap();
        store
            .run_detail(run.id)
            .unwrap()
            .start
            .fixture
            .unwrap()
            .insertions
    };
    assert_eq!(insertions(&mut store, &counted("1", "U1", 10)), Some(1));
    assert_eq!(insertions(&mut store, &counted("1", "U2", 20)), Some(2));
    // The next scenario on the same unit, still in the fixture: the same insertion.
    assert_eq!(insertions(&mut store, &counted("1", "U2", 25)), Some(2));
    // Slot 2 holds another physical fixture of the same kind: its own count.
    assert_eq!(insertions(&mut store, &counted("2", "U3", 30)), Some(1));
    // A fixture whose PLC reports its counter is believed, and counting goes on from there.
    let mut reported = counted("1", "U4", 40);
    reported.fixture.as_mut().unwrap().insertions = Some(500);
    assert_eq!(insertions(&mut store, &reported), Some(500));
    assert_eq!(insertions(&mut store, &counted("1", "U5", 50)), Some(501));
}
