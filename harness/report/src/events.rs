//! Events as a run produces them, for the outputs' tests.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rigor_runner::event::{Event, RunInfo, StepOutcome, Subscriber};

pub(crate) fn run(unit: &str, slot: &str) -> Arc<RunInfo> {
    Arc::new(RunInfo {
        unit: unit.into(),
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
        slot: slot.into(),
        fixture: "fx-fridge-gen2".into(),
        operator: None,
        firmware_version: Some("2.1.0".into()),
        firmware_sha256: None,
        started_at: SystemTime::UNIX_EPOCH,
        session: None,
        role: None,
    })
}

pub(crate) fn step(
    slot: &str,
    index: u32,
    label: &str,
    kind: &'static str,
    attempt: u32,
    outcome: StepOutcome,
    ms: u64,
) -> [Event; 2] {
    [
        Event::StepStarted {
            slot: slot.into(),
            index,
            label: label.into(),
            kind,
            attempt,
        },
        Event::StepFinished {
            slot: slot.into(),
            index,
            label: label.into(),
            kind,
            attempt,
            outcome,
            duration: Duration::from_millis(ms),
        },
    ]
}

pub(crate) fn feed(j: &mut dyn Subscriber, events: impl IntoIterator<Item = Event>) {
    for e in events {
        j.on_event(&e);
    }
}
