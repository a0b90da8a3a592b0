//! JUnit XML for CI, written with nextest's `quick-junit` (the `junit-report` crate cannot write
//! a testsuite's `<properties>`, which carry what a CI dashboard needs to tell units apart).
//!
//! A testsuite per unit run: its name and properties say the unit, the scenario and the run's
//! attempt (the unit's n-th run of the scenario: the one meaning of "attempt" here). A testcase
//! per step, identified as CI tools identify a test, by classname and name: the classname holds
//! the scenario, generation and unit (`smoke.gen2.FC2-000201`), so two units of one generation
//! are never merged; the name is the step's id. A step the engine tried again is one testcase
//! whose earlier tries are reruns (flaky when a later try passed), as nextest reports retries.
//! Cases come in the order their steps began, and a retry group's own case takes no time of its
//! own (its steps carry it), so case times add up to at most the suite's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use rigor_runner::event::{Event, RunInfo, RunOutcome, StepOutcome, Subscriber, SubscriberError};

/// One try of a step.
#[derive(Debug, Clone)]
struct Try {
    outcome: StepOutcome,
    duration: Duration,
    /// Value-against-limits lines of the measurements this try took.
    measurements: Vec<String>,
}

/// One step as JUnit shows it: every try, in order.
#[derive(Debug, Clone)]
struct Case {
    /// The step's place in the plan (retries share it).
    index: u32,
    label: String,
    kind: &'static str,
    tries: Vec<Try>,
}

/// One unit run as JUnit shows it.
#[derive(Debug, Clone)]
struct Suite {
    run: Arc<RunInfo>,
    cases: Vec<Case>,
    /// Measurements of the step now running, by step index.
    pending: BTreeMap<u32, Vec<String>>,
    outcome: Option<(RunOutcome, Option<String>, Duration)>,
}

impl Suite {
    fn case(&mut self, index: u32, label: &str, kind: &'static str) -> &mut Case {
        let at = match self.cases.iter().position(|c| c.index == index) {
            Some(at) => at,
            None => {
                self.cases.push(Case {
                    index,
                    label: label.to_owned(),
                    kind,
                    tries: Vec::new(),
                });
                self.cases.len() - 1
            }
        };
        &mut self.cases[at]
    }
}

/// Collects runs and writes one JUnit file when all are over.
#[derive(Debug)]
pub struct JunitWriter {
    path: PathBuf,
    /// Open runs by slot; finished runs in order.
    open: BTreeMap<String, Suite>,
    done: Vec<Suite>,
}

impl JunitWriter {
    /// A writer that will write `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            open: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    /// The report for everything collected so far.
    pub fn report(&self) -> Report {
        let mut report = Report::new("rigor");
        for s in self.done.iter().chain(self.open.values()) {
            report.add_test_suite(suite(s));
        }
        report
    }

    /// The XML for everything collected so far.
    pub fn render(&self) -> Result<String, quick_junit::SerializeError> {
        self.report().to_string()
    }
}

fn suite(s: &Suite) -> TestSuite {
    let r = &s.run;
    let role = r
        .role
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let mut suite = TestSuite::new(format!(
        "{}{role} on {}, attempt {}",
        r.scenario, r.unit, r.attempt
    ));
    if let Some((_, _, time)) = &s.outcome {
        suite.set_time(*time);
    }
    for (k, v) in properties(r, s.outcome.as_ref()) {
        suite.add_property(Property::new(k, v));
    }
    let classname = format!("{}.{}.{}", r.scenario, r.generation, r.unit);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &s.cases {
        // Steps without an id are labelled by their kind (`power` on, `power` off): the second
        // of a label is `power (2)`, the same in every run of the plan.
        let n = seen.entry(c.label.as_str()).or_default();
        *n += 1;
        let name = if *n == 1 {
            c.label.clone()
        } else {
            format!("{} ({n})", c.label)
        };
        let Some((last, earlier)) = c.tries.split_last() else {
            continue;
        };
        let mut status = status_of(last);
        for t in earlier {
            if let Some(rerun) = rerun_of(t) {
                status.add_rerun(rerun);
            }
        }
        if matches!(status, TestCaseStatus::NonSuccess { .. }) {
            status.set_rerun_kind(FlakyOrRerun::Rerun);
        }
        let mut case = TestCase::new(name, status);
        case.set_classname(classname.clone());
        // A retry group's steps carry its time: counting it again would exceed the suite's.
        if c.kind != "retry" {
            case.set_time(c.tries.iter().map(|t| t.duration).sum());
        }
        if !last.measurements.is_empty() {
            case.set_system_out(last.measurements.join("\n"));
        }
        suite.add_test_case(case);
    }
    suite
}

/// The kind and type of a try that did not pass.
fn non_success(t: &Try) -> Option<(NonSuccessKind, String, &str)> {
    match &t.outcome {
        StepOutcome::Fail { message } => Some((NonSuccessKind::Failure, "device".into(), message)),
        StepOutcome::Error { class, message } => {
            Some((NonSuccessKind::Error, class.to_string(), message))
        }
        StepOutcome::Pass | StepOutcome::Skipped => None,
    }
}

fn status_of(t: &Try) -> TestCaseStatus {
    if matches!(t.outcome, StepOutcome::Skipped) {
        return TestCaseStatus::skipped();
    }
    let Some((kind, ty, message)) = non_success(t) else {
        return TestCaseStatus::success();
    };
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(message).set_type(ty);
    status.set_description(if t.measurements.is_empty() {
        message.to_owned()
    } else {
        format!("{message}\n{}", t.measurements.join("\n"))
    });
    status
}

fn rerun_of(t: &Try) -> Option<TestRerun> {
    let (kind, ty, message) = non_success(t)?;
    let mut rerun = TestRerun::new(kind);
    rerun
        .set_message(message)
        .set_type(ty)
        .set_time(t.duration)
        .set_description(message);
    Some(rerun)
}

fn properties(
    r: &RunInfo,
    outcome: Option<&(RunOutcome, Option<String>, Duration)>,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("serial", r.unit.clone()),
        ("attempt", r.attempt.to_string()),
        ("family", r.family.clone()),
        ("generation", r.generation.clone()),
        ("profile", r.profile.clone()),
        ("fixture", r.fixture.clone()),
        ("rig", r.rig.clone()),
        ("slot", r.slot.clone()),
        ("scenario", r.scenario.clone()),
        ("scenario.version", r.scenario_version.to_string()),
        ("scenario.hash", r.scenario_hash.clone()),
        ("limit-set.hash", r.limit_set_hash.clone()),
    ];
    p.extend(r.station.clone().map(|s| ("station", s)));
    p.extend(r.operator.clone().map(|s| ("operator", s)));
    p.extend(r.firmware_version.clone().map(|s| ("firmware.version", s)));
    p.extend(r.firmware_sha256.clone().map(|s| ("firmware.sha256", s)));
    p.extend(r.session.clone().map(|s| ("session", s)));
    p.extend(r.role.clone().map(|s| ("role", s)));
    if let Some((o, _, _)) = outcome {
        p.push(("outcome", o.name().to_owned()));
    }
    p
}

impl Subscriber for JunitWriter {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run } => {
                let suite = Suite {
                    run: run.clone(),
                    cases: Vec::new(),
                    pending: BTreeMap::new(),
                    outcome: None,
                };
                if let Some(old) = self.open.insert(run.slot.clone(), suite) {
                    self.done.push(old);
                }
            }
            Event::StepStarted {
                slot,
                index,
                label,
                kind,
                ..
            } => {
                // The case takes its place when its step first begins: a retry group before its steps.
                if let Some(s) = self.open.get_mut(slot) {
                    s.case(*index, label, kind);
                }
            }
            Event::Measured {
                slot,
                index,
                judged,
            } => {
                if let Some(s) = self.open.get_mut(slot) {
                    let mark = if judged.verdict.passed() { "" } else { "FAIL " };
                    s.pending
                        .entry(*index)
                        .or_default()
                        .push(format!("{mark}{}", judged.describe()));
                }
            }
            Event::StepFinished {
                slot,
                index,
                label,
                kind,
                outcome,
                duration,
                ..
            } => {
                if let Some(s) = self.open.get_mut(slot) {
                    let measurements = s.pending.remove(index).unwrap_or_default();
                    s.case(*index, label, kind).tries.push(Try {
                        outcome: outcome.clone(),
                        duration: *duration,
                        measurements,
                    });
                }
            }
            Event::RunFinished {
                run,
                outcome,
                message,
                duration,
                ..
            } => {
                if let Some(mut s) = self.open.remove(&run.slot) {
                    s.run = run.clone();
                    s.outcome = Some((*outcome, message.clone(), *duration));
                    self.done.push(s);
                }
            }
            Event::Artifact { .. } => {}
        }
    }

    fn finish(&mut self) -> Result<(), SubscriberError> {
        let err = |source| SubscriberError {
            what: format!("writing {}", self.path.display()),
            source,
        };
        let xml = self.render().map_err(|e| err(std::io::Error::other(e)))?;
        std::fs::write(&self.path, xml).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{feed, run, step};
    use rigor_runner::event::FailureClass;
    use rigor_runner::measurement::{Judged, Value, Verdict};

    #[test]
    fn a_failed_measurement_shows_its_value_against_its_limits() {
        let mut j = JunitWriter::new("unused.xml");
        let slot = "slot2";
        j.on_event(&Event::RunStarted {
            run: run("FC2-000042", slot),
        });
        feed(
            &mut j,
            step(slot, 0, "power", "power", 1, StepOutcome::Pass, 5),
        );
        j.on_event(&Event::Measured {
            slot: slot.into(),
            index: 1,
            judged: Judged {
                name: "idle_current".into(),
                value: Value::Number(0.121),
                unit: Some(rigor_model::unit::Unit::Ampere),
                limits: "0.04 <= x <= 0.08".into(),
                comparator: rigor_model::limits::Comparator::Range {
                    low: Some(rigor_model::limits::Bound::Inclusive(0.04)),
                    high: Some(rigor_model::limits::Bound::Inclusive(0.08)),
                },
                marginal: None,
                verdict: Verdict::Fail,
            },
        });
        let message = "idle_current = 0.121 A, limits 0.04 <= x <= 0.08 A".to_owned();
        let failed = StepOutcome::Fail {
            message: message.clone(),
        };
        feed(&mut j, step(slot, 1, "idle", "measure", 1, failed, 7));
        let vanished = StepOutcome::Error {
            class: FailureClass::Infrastructure,
            message: "port vanished".into(),
        };
        feed(
            &mut j,
            step(slot, 2, "banner", "console.expect", 1, vanished, 1),
        );
        // A second step with the same label (the teardown's `power: off`) is a case of its own.
        feed(
            &mut j,
            step(slot, 3, "power", "power", 1, StepOutcome::Pass, 1),
        );
        // The engine's safe state has no place in the plan; its case is named, not numbered.
        feed(
            &mut j,
            step(
                slot,
                u32::MAX,
                "safe-state",
                "teardown",
                1,
                StepOutcome::Pass,
                2,
            ),
        );
        j.on_event(&Event::RunFinished {
            run: run("FC2-000042", slot),
            outcome: RunOutcome::Fail,
            class: Some(FailureClass::Device),
            message: Some(message),
            duration: Duration::from_millis(20),
        });
        insta::assert_snapshot!(j.render().unwrap());
    }

    /// Regression: a retried step became one case per try (`[attempt 1]`, `[attempt 2]`), a
    /// retry group's case came after its steps, and two units of one generation shared a
    /// classname, so CI tools merged them.
    #[test]
    fn retried_steps_are_reruns_and_each_unit_has_its_own_classname() {
        let mut j = JunitWriter::new("unused.xml");
        for (unit, slot) in [("FC2-000201", "slot2"), ("FC2-000202", "slot4")] {
            j.on_event(&Event::RunStarted {
                run: run(unit, slot),
            });
            let gone = || StepOutcome::Error {
                class: FailureClass::Infrastructure,
                message: "psu-1 is gone".into(),
            };
            // Tried again by the rig's policy: flaky, then passed.
            feed(&mut j, step(slot, 0, "power-on", "power", 1, gone(), 3));
            feed(
                &mut j,
                step(slot, 0, "power-on", "power", 2, StepOutcome::Pass, 4),
            );
            // A retry group whose step failed both times.
            let [group_started, _] = step(slot, 1, "settle", "retry", 1, StepOutcome::Pass, 0);
            j.on_event(&group_started);
            let late = || StepOutcome::Fail {
                message: "no `ready` within 1s".into(),
            };
            feed(
                &mut j,
                step(slot, 2, "ready", "console.expect", 1, late(), 10),
            );
            feed(
                &mut j,
                step(slot, 2, "ready", "console.expect", 2, late(), 10),
            );
            let [_, group_finished] = step(slot, 1, "settle", "retry", 2, late(), 25);
            j.on_event(&group_finished);
            j.on_event(&Event::RunFinished {
                run: run(unit, slot),
                outcome: RunOutcome::Fail,
                class: Some(FailureClass::Device),
                message: Some("no `ready` within 1s".into()),
                duration: Duration::from_millis(40),
            });
        }
        insta::assert_snapshot!(j.render().unwrap());
    }

    /// A multi-device session: a suite per unit, each naming its role, all with the session's id.
    #[test]
    fn each_unit_of_a_session_is_a_suite_with_the_session_and_its_role() {
        let mut j = JunitWriter::new("unused.xml");
        for (unit, slot, role) in [
            ("GW1-000501", "gw1", "gateway[0]"),
            ("FC3-000301", "slot3", "sensor[0]"),
        ] {
            let mut info = (*run(unit, slot)).clone();
            info.scenario = "gateway-sensors".into();
            info.session = Some("0190b2a4-0000-7000-8000-000000000001".into());
            info.role = Some(role.into());
            let info = std::sync::Arc::new(info);
            j.on_event(&Event::RunStarted { run: info.clone() });
            feed(
                &mut j,
                step(slot, 0, "up", "barrier", 1, StepOutcome::Pass, 4),
            );
            j.on_event(&Event::RunFinished {
                run: info,
                outcome: RunOutcome::Pass,
                class: None,
                message: None,
                duration: Duration::from_millis(9),
            });
        }
        insta::assert_snapshot!(j.render().unwrap());
    }
}
