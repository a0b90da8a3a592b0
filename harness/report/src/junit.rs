//! JUnit XML for CI: a testsuite per unit run, a testcase per step.
//!
//! Written with quick-xml rather than the junit-report crate because that crate cannot write a
//! testsuite's `<properties>`, which carry what a CI dashboard needs to tell units apart: serial,
//! attempt, generation, firmware, fixture, scenario and limit-set hashes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use quick_xml::Writer;
use quick_xml::events::{BytesText, Event as Xml};
use rigor_runner::event::{Event, RunInfo, RunOutcome, StepOutcome, Subscriber, SubscriberError};

/// One step as JUnit shows it.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    duration: Duration,
    outcome: StepOutcome,
    /// Value-against-limits lines of the measurements this step took.
    measurements: Vec<String>,
}

/// One unit run as JUnit shows it.
#[derive(Debug, Clone)]
struct Suite {
    run: Arc<RunInfo>,
    cases: Vec<Case>,
    pending: BTreeMap<u32, Vec<String>>,
    outcome: Option<(RunOutcome, Option<String>, Duration)>,
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

    /// The XML for everything collected so far.
    pub fn render(&self) -> Result<Vec<u8>, std::io::Error> {
        let suites: Vec<&Suite> = self.done.iter().chain(self.open.values()).collect();
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        w.write_event(Xml::Decl(quick_xml::events::BytesDecl::new(
            "1.0",
            Some("UTF-8"),
            None,
        )))?;
        let count = |f: &dyn Fn(&Case) -> bool| {
            suites
                .iter()
                .flat_map(|s| &s.cases)
                .filter(|c| f(c))
                .count()
                .to_string()
        };
        let total: f64 = suites
            .iter()
            .map(|s| s.outcome.as_ref().map_or(0.0, |o| o.2.as_secs_f64()))
            .sum();
        w.create_element("testsuites")
            .with_attributes([
                ("name", "rigor"),
                ("tests", count(&|_| true).as_str()),
                (
                    "failures",
                    count(&|c| matches!(c.outcome, StepOutcome::Fail { .. })).as_str(),
                ),
                (
                    "errors",
                    count(&|c| matches!(c.outcome, StepOutcome::Error { .. })).as_str(),
                ),
                ("time", format!("{total:.3}").as_str()),
            ])
            .write_inner_content(|w| {
                for s in &suites {
                    suite(w, s)?;
                }
                Ok::<_, std::io::Error>(())
            })?;
        Ok(w.into_inner())
    }
}

fn suite<W: Write>(w: &mut Writer<W>, s: &Suite) -> Result<(), std::io::Error> {
    let r = &s.run;
    let n = |f: &dyn Fn(&Case) -> bool| s.cases.iter().filter(|c| f(c)).count().to_string();
    let time = s.outcome.as_ref().map_or(0.0, |o| o.2.as_secs_f64());
    let name = format!("{} {} attempt {}", r.scenario, r.unit, r.attempt);
    w.create_element("testsuite")
        .with_attributes([
            ("name", name.as_str()),
            ("tests", n(&|_| true).as_str()),
            (
                "failures",
                n(&|c| matches!(c.outcome, StepOutcome::Fail { .. })).as_str(),
            ),
            (
                "errors",
                n(&|c| matches!(c.outcome, StepOutcome::Error { .. })).as_str(),
            ),
            (
                "skipped",
                n(&|c| matches!(c.outcome, StepOutcome::Skipped)).as_str(),
            ),
            ("time", format!("{time:.3}").as_str()),
            ("hostname", r.station.as_deref().unwrap_or(&r.rig)),
        ])
        .write_inner_content(|w| {
            w.create_element("properties").write_inner_content(|w| {
                for (k, v) in properties(r, s.outcome.as_ref()) {
                    w.create_element("property")
                        .with_attributes([("name", k), ("value", v.as_str())])
                        .write_empty()?;
                }
                Ok::<_, std::io::Error>(())
            })?;
            let classname = format!("{}.{}", r.scenario, r.generation);
            for c in &s.cases {
                let time = format!("{:.3}", c.duration.as_secs_f64());
                let el = w.create_element("testcase").with_attributes([
                    ("name", c.name.as_str()),
                    ("classname", classname.as_str()),
                    ("time", time.as_str()),
                ]);
                let detail = c.measurements.join("\n");
                match &c.outcome {
                    StepOutcome::Pass if detail.is_empty() => {
                        el.write_empty()?;
                    }
                    StepOutcome::Pass => {
                        el.write_inner_content(|w| {
                            w.create_element("system-out")
                                .write_text_content(BytesText::new(&detail))?;
                            Ok::<_, std::io::Error>(())
                        })?;
                    }
                    StepOutcome::Skipped => {
                        el.write_inner_content(|w| {
                            w.create_element("skipped").write_empty()?;
                            Ok::<_, std::io::Error>(())
                        })?;
                    }
                    StepOutcome::Fail { message } | StepOutcome::Error { message, .. } => {
                        let (tag, kind) = match &c.outcome {
                            StepOutcome::Error { class, .. } => {
                                ("error", format!("{class:?}").to_lowercase())
                            }
                            _ => ("failure", "device".to_owned()),
                        };
                        let body = if detail.is_empty() {
                            message.clone()
                        } else {
                            format!("{message}\n{detail}")
                        };
                        el.write_inner_content(|w| {
                            w.create_element(tag)
                                .with_attributes([
                                    ("message", message.as_str()),
                                    ("type", kind.as_str()),
                                ])
                                .write_text_content(BytesText::new(&body))?;
                            Ok::<_, std::io::Error>(())
                        })?;
                    }
                }
            }
            Ok::<_, std::io::Error>(())
        })?;
    Ok(())
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
        ("scenario.version", r.scenario_version.to_string()),
        ("scenario.hash", r.scenario_hash.clone()),
        ("limit-set.hash", r.limit_set_hash.clone()),
    ];
    p.extend(r.station.clone().map(|s| ("station", s)));
    p.extend(r.operator.clone().map(|s| ("operator", s)));
    p.extend(r.firmware_version.clone().map(|s| ("firmware.version", s)));
    p.extend(r.firmware_sha256.clone().map(|s| ("firmware.sha256", s)));
    if let Some((o, _, _)) = outcome {
        p.push(("outcome", format!("{o:?}").to_lowercase()));
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
                attempt,
                outcome,
                duration,
                ..
            } => {
                if let Some(s) = self.open.get_mut(slot) {
                    let measurements = s.pending.remove(index).unwrap_or_default();
                    let name = format!("{index:02} {label} [attempt {attempt}]");
                    s.cases.push(Case {
                        name,
                        duration: *duration,
                        outcome: outcome.clone(),
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
            Event::StepStarted { .. } | Event::Artifact { .. } => {}
        }
    }

    fn finish(&mut self) -> Result<(), SubscriberError> {
        let err = |source| SubscriberError {
            what: format!("writing {}", self.path.display()),
            source,
        };
        let xml = self.render().map_err(err)?;
        std::fs::write(&self.path, xml).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event as X;
    use rigor_runner::event::FailureClass;
    use rigor_runner::measurement::{Judged, Value, Verdict};
    use std::time::SystemTime;

    fn run() -> Arc<RunInfo> {
        Arc::new(RunInfo {
            unit: "FC2-000042".into(),
            attempt: 2,
            family: "fridge-ctl".into(),
            generation: "gen2".into(),
            profile: "fridge-ctl-gen2".into(),
            scenario: "smoke".into(),
            scenario_version: 3,
            scenario_hash: "ab".into(),
            limit_set_hash: "cd".into(),
            station: Some("eol-3".into()),
            rig: "virtual-bench".into(),
            slot: "slot2".into(),
            fixture: "fx-fridge-gen2".into(),
            operator: None,
            firmware_version: Some("2.1.0".into()),
            firmware_sha256: None,
            started_at: SystemTime::UNIX_EPOCH,
        })
    }

    /// Every element's name with its attributes, and every text, in document order.
    fn parse(xml: &[u8]) -> Vec<String> {
        let mut r = quick_xml::Reader::from_reader(xml);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut text = String::new();
        loop {
            let event = r.read_event_into(&mut buf).unwrap();
            if !matches!(event, X::Text(_) | X::GeneralRef(_)) && !text.trim().is_empty() {
                out.push(std::mem::take(&mut text));
            }
            match event {
                X::GeneralRef(e) => text.push_str(match e.decode().unwrap().as_ref() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    other => panic!("entity {other}"),
                }),
                X::Start(e) | X::Empty(e) => {
                    text.clear();
                    let attrs: Vec<String> = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            format!(
                                "{}={}",
                                String::from_utf8_lossy(a.key.as_ref()),
                                a.unescape_value().unwrap()
                            )
                        })
                        .collect();
                    out.push(format!(
                        "<{} {}>",
                        String::from_utf8_lossy(e.name().as_ref()),
                        attrs.join(" ")
                    ));
                }
                X::Text(t) => text.push_str(&t.decode().unwrap()),
                X::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        out
    }

    #[test]
    fn a_failed_measurement_shows_its_value_against_its_limits() {
        let mut j = JunitWriter::new("unused.xml");
        let slot = "slot2".to_owned();
        j.on_event(&Event::RunStarted { run: run() });
        j.on_event(&Event::StepFinished {
            slot: slot.clone(),
            index: 0,
            label: "power".into(),
            kind: "power",
            attempt: 1,
            outcome: StepOutcome::Pass,
            duration: Duration::from_millis(5),
        });
        j.on_event(&Event::Measured {
            slot: slot.clone(),
            index: 1,
            judged: Judged {
                name: "idle_current".into(),
                value: Value::Number(0.121),
                unit: Some(rigor_model_unit()),
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
        j.on_event(&Event::StepFinished {
            slot: slot.clone(),
            index: 1,
            label: "idle".into(),
            kind: "measure",
            attempt: 1,
            outcome: StepOutcome::Fail {
                message: message.clone(),
            },
            duration: Duration::from_millis(7),
        });
        j.on_event(&Event::StepFinished {
            slot: slot.clone(),
            index: 2,
            label: "banner".into(),
            kind: "console.expect",
            attempt: 1,
            outcome: StepOutcome::Error {
                class: FailureClass::Infrastructure,
                message: "port vanished".into(),
            },
            duration: Duration::from_millis(1),
        });
        j.on_event(&Event::RunFinished {
            run: run(),
            outcome: RunOutcome::Fail,
            class: Some(FailureClass::Device),
            message: Some(message.clone()),
            duration: Duration::from_millis(20),
        });
        let doc = parse(&j.render().unwrap());
        assert!(
            doc.contains(
                &"<testsuites name=rigor tests=3 failures=1 errors=1 time=0.020>".to_owned()
            ),
            "{doc:#?}"
        );
        assert!(doc.contains(&"<testsuite name=smoke FC2-000042 attempt 2 tests=3 failures=1 errors=1 skipped=0 time=0.020 hostname=eol-3>".to_owned()), "{doc:#?}");
        for p in [
            "serial value=FC2-000042",
            "attempt value=2",
            "generation value=gen2",
            "fixture value=fx-fridge-gen2",
            "firmware.version value=2.1.0",
            "limit-set.hash value=cd",
            "outcome value=fail",
        ] {
            assert!(
                doc.contains(&format!("<property name={p}>")),
                "{p} in {doc:#?}"
            );
        }
        assert!(
            doc.contains(
                &"<testcase name=01 idle [attempt 1] classname=smoke.gen2 time=0.007>".to_owned()
            ),
            "{doc:#?}"
        );
        assert!(
            doc.contains(&format!("<failure message={message} type=device>")),
            "{doc:#?}"
        );
        assert!(
            doc.contains(&format!(
                "{message}\nFAIL idle_current = 0.121 A, limits 0.04 <= x <= 0.08 A"
            )),
            "{doc:#?}"
        );
        assert!(
            doc.contains(&"<error message=port vanished type=infrastructure>".to_owned()),
            "{doc:#?}"
        );
    }

    fn rigor_model_unit() -> rigor_model::unit::Unit {
        rigor_model::unit::Unit::Ampere
    }
}
