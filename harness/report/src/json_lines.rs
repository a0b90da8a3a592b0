//! Every event as one JSON object per line (`--format json`), for scripts and station software.
//! The slots' events interleave in the order they happened: in a multi-device scenario, one
//! timeline of all its units, each event naming its unit's `role` beside its slot.

use std::collections::BTreeMap;
use std::io::Write;

use rigor_runner::event::{Event, Subscriber, SubscriberError};

/// An event with its unit's role after its own fields.
#[derive(serde::Serialize)]
struct WithRole<'a> {
    #[serde(flatten)]
    event: &'a Event,
    role: &'a str,
}

/// Writes events as JSON lines to a writer (stdout by default).
pub struct JsonLines<W: Write + Send> {
    out: W,
    error: Option<std::io::Error>,
    /// The role of each slot's current run, in a multi-device scenario.
    roles: BTreeMap<String, String>,
}

impl<W: Write + Send> JsonLines<W> {
    /// Lines go to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            error: None,
            roles: BTreeMap::new(),
        }
    }
}

impl<W: Write + Send> Subscriber for JsonLines<W> {
    fn on_event(&mut self, event: &Event) {
        if self.error.is_some() {
            return;
        }
        if let Event::RunStarted { run } = event {
            match &run.role {
                Some(role) => self.roles.insert(run.slot.clone(), role.clone()),
                None => self.roles.remove(&run.slot),
            };
        }
        let line = match self.roles.get(event.slot()) {
            None => serde_json::to_string(event),
            Some(role) => serde_json::to_string(&WithRole { event, role }),
        }
        .map_err(std::io::Error::other);
        if let Err(e) = line.and_then(|l| writeln!(self.out, "{l}")) {
            self.error = Some(e);
        }
    }

    fn finish(&mut self) -> Result<(), SubscriberError> {
        let what = "writing JSON lines".to_owned();
        if let Some(source) = self.error.take() {
            return Err(SubscriberError { what, source });
        }
        self.out
            .flush()
            .map_err(|source| SubscriberError { what, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{feed, run, step};
    use rigor_runner::event::{FailureClass, RunOutcome, StepOutcome};
    use std::time::Duration;

    #[test]
    fn every_event_is_one_json_line() {
        let mut out = Vec::new();
        let mut lines = JsonLines::new(&mut out);
        let slot = "slot2";
        lines.on_event(&Event::RunStarted {
            run: run("FC2-000042", slot),
        });
        feed(
            &mut lines,
            step(slot, 0, "power", "power", 1, StepOutcome::Pass, 5),
        );
        let gone = StepOutcome::Error {
            class: FailureClass::Infrastructure,
            message: "psu-1 is gone".into(),
        };
        feed(
            &mut lines,
            step(slot, 1, "banner", "console.expect", 1, gone, 3),
        );
        lines.on_event(&Event::RunFinished {
            run: run("FC2-000042", slot),
            outcome: RunOutcome::Error,
            class: Some(FailureClass::Infrastructure),
            message: Some("psu-1 is gone".into()),
            duration: Duration::from_millis(20),
        });
        lines.finish().unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    /// In a multi-device session every event of a unit names its role, so the one timeline of
    /// all units reads by role as well as by slot.
    #[test]
    fn every_event_of_a_session_unit_names_its_role() {
        let mut out = Vec::new();
        let mut lines = JsonLines::new(&mut out);
        let mut info = (*run("FC3-000301", "slot3")).clone();
        info.session = Some("0190b2a4-0000-7000-8000-000000000001".into());
        info.role = Some("sensor[0]".into());
        let info = std::sync::Arc::new(info);
        lines.on_event(&Event::RunStarted { run: info.clone() });
        feed(
            &mut lines,
            step("slot3", 0, "up", "barrier", 1, StepOutcome::Pass, 4),
        );
        // Another slot's run, not in a session: no role.
        feed(
            &mut lines,
            step("slot1", 0, "power", "power", 1, StepOutcome::Pass, 1),
        );
        lines.finish().unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }
}
