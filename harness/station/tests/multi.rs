//! Several devices in one scenario, on the virtual bench, through the station library: a
//! gateway and fridge controllers on their own slots in one session, lined up at barriers, the
//! gateway waiting for the controllers' readings, and a gateway that dies mid-scenario.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rigor_runner::event::{Event, RunOutcome, StepOutcome, Subscriber};
use rigor_station::{BenchUnits, SlotSpec, Station, StationError, plan_session};

/// Every event as `(slot, what, label)`, in the one order the station's sinks saw them.
#[derive(Default, Clone)]
struct Timeline(Arc<Mutex<Vec<Entry>>>);

/// `(slot, started or finished, step label, outcome when finished)`.
type Entry = (String, &'static str, String, Option<StepOutcome>);

impl Subscriber for Timeline {
    fn on_event(&mut self, event: &Event) {
        let entry = match event {
            Event::StepStarted { slot, label, .. } => {
                (slot.clone(), "started", label.clone(), None)
            }
            Event::StepFinished {
                slot,
                label,
                outcome,
                ..
            } => (
                slot.clone(),
                "finished",
                label.clone(),
                Some(outcome.clone()),
            ),
            _ => return,
        };
        self.0.lock().unwrap().push(entry);
    }
}

impl Timeline {
    fn events(&self) -> Vec<Entry> {
        self.0.lock().unwrap().clone()
    }

    /// Where the first event of `slot`, `what`, `label` is in the timeline.
    fn position(&self, slot: &str, what: &str, label: &str) -> usize {
        self.events()
            .iter()
            .position(|(s, w, l, _)| s == slot && *w == what && l == label)
            .unwrap_or_else(|| panic!("no `{what} {label}` on {slot}"))
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> rigor_model::Catalog {
    let mut paths: Vec<PathBuf> = ["device-profiles", "rigs", "fixtures", "examples"]
        .iter()
        .map(|d| root().join(d))
        .collect();
    paths.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multi"));
    rigor_station::load(&paths).unwrap()
}

/// The gateway in gw1, a gen3 controller in slot3 and a gen2 in slot4, each with good firmware.
fn specs() -> Vec<SlotSpec> {
    vec![
        SlotSpec::new("gw1")
            .profile("fridge-gw-gen1")
            .unit("GW1-000501"),
        SlotSpec::new("slot3")
            .profile("fridge-ctl-gen3")
            .unit("FC3-000301"),
        SlotSpec::new("slot4")
            .profile("fridge-ctl-gen2")
            .unit("FC2-000202"),
    ]
}

fn installed() -> BenchUnits {
    let mut bench = BenchUnits::default();
    for (slot, version) in [("gw1", "1.0.0"), ("slot3", "3.0.2"), ("slot4", "2.1.0")] {
        bench.installed.insert(slot.into(), version.into());
    }
    bench
}

struct Ran {
    outcomes: BTreeMap<String, rigor_runner::engine::RunResult>,
    timeline: Timeline,
    store: PathBuf,
    supply_on: BTreeMap<String, bool>,
    _dir: tempfile::TempDir,
}

async fn run(scenario: &str, bench: BenchUnits) -> Ran {
    let catalog = catalog();
    let plans = plan_session(
        &catalog,
        "virtual-bench",
        scenario,
        &specs(),
        &BTreeMap::new(),
    )
    .unwrap();
    let station = Station::for_plans(&catalog, "virtual-bench", &plans, &bench)
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for plan in plans {
        jobs.push(station.open(plan, Some("test")).await.unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("multi.db");
    let timeline = Timeline::default();
    let sinks = rigor_station::record_into(&store, vec![Box::new(timeline.clone())]).unwrap();
    let outcomes = station
        .run(jobs, &sinks, rigor_station::never_cancelled())
        .await
        .into_iter()
        .map(|o| (o.slot, o.result.unwrap()))
        .collect();
    let bench = station.bench().unwrap();
    let supply_on = ["gw1", "slot3", "slot4"]
        .iter()
        .map(|s| (s.to_string(), bench.slot(s).unwrap().supply_on()))
        .collect();
    Ran {
        outcomes,
        timeline,
        store,
        supply_on,
        _dir: dir,
    }
}

/// The session's runs in the store, by role: `(role, serial, outcome)`; asserts they share one id.
fn recorded(store: &Path) -> Vec<(String, String, String)> {
    let store = rigor_store::Store::open(store).unwrap();
    let mut sessions = Vec::new();
    for serial in ["GW1-000501", "FC3-000301", "FC2-000202"] {
        let runs = store.runs_of_unit(serial).unwrap();
        assert_eq!(runs.len(), 1, "{serial}: {runs:?}");
        let detail = store.run_detail(runs[0].run_id).unwrap();
        sessions.push(detail.start.session.expect("a session").id);
    }
    sessions.dedup();
    assert_eq!(
        sessions.len(),
        1,
        "one session id for every unit: {sessions:?}"
    );
    store
        .runs_of_session(&sessions[0])
        .unwrap()
        .into_iter()
        .map(|(role, run)| (role, run.unit_serial, format!("{:?}", run.status)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_hears_every_sensor_and_barriers_hold_every_unit_until_all_arrive() {
    let ran = run("gateway-sensors", installed()).await;
    for (slot, result) in &ran.outcomes {
        assert_eq!(
            result.outcome,
            RunOutcome::Pass,
            "{slot}: {:?}",
            result.message
        );
    }
    // No unit goes past a barrier before every unit has reached it: each unit's step after the
    // barrier starts after every unit's barrier step started.
    let slots = ["gw1", "slot3", "slot4"];
    for (barrier, next) in [
        (
            "up",
            [
                ("gw1", "hears-first-sensor"),
                ("slot3", "net.impair"),
                ("slot4", "net.impair"),
            ],
        ),
        (
            "slowed",
            [
                ("gw1", "hears-through-slow-link"),
                ("slot3", "done"),
                ("slot4", "done"),
            ],
        ),
    ] {
        let last_arrival = slots
            .iter()
            .map(|s| ran.timeline.position(s, "started", barrier))
            .max()
            .unwrap();
        for (slot, step) in next {
            let went_on = ran.timeline.position(slot, "started", step);
            assert!(
                went_on > last_arrival,
                "{slot} started `{step}` before every unit reached `{barrier}`"
            );
        }
    }
    assert!(ran.supply_on.values().all(|on| !on), "{:?}", ran.supply_on);
    let recorded = recorded(&ran.store);
    assert_eq!(
        recorded,
        [
            ("gateway[0]", "GW1-000501"),
            ("sensor[0]", "FC3-000301"),
            ("sensor[1]", "FC2-000202"),
        ]
        .map(|(r, s)| (r.to_owned(), s.to_owned(), "Pass".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_that_never_reaches_the_gateway_fails_its_wait_and_stops_the_sensor_at_the_next_barrier()
 {
    let ran = run_cut().await;
    let gateway = &ran.outcomes["gw1"];
    assert_eq!(gateway.outcome, RunOutcome::Fail, "{:?}", gateway.message);
    let message = gateway.message.as_deref().unwrap();
    assert!(
        message.contains("sensor FC3-000301 temp=") && message.contains("within 2s"),
        "{message}"
    );
    let sensor = &ran.outcomes["slot3"];
    assert_eq!(sensor.outcome, RunOutcome::Error, "{:?}", sensor.message);
    assert_eq!(
        sensor.message.as_deref(),
        Some(format!("barrier `done`: gateway[0] stopped ({message}) before reaching it").as_str())
    );
    assert!(ran.supply_on.values().all(|on| !on), "{:?}", ran.supply_on);
}

async fn run_cut() -> Ran {
    // One sensor: slot4 stays empty of this session (but its unit exists, powered off).
    let catalog = catalog();
    let specs = &specs()[..2];
    let plans = plan_session(
        &catalog,
        "virtual-bench",
        "gateway-cut",
        specs,
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(plans.len(), 2);
    let mut bench = installed();
    bench.installed.remove("slot4");
    let station = Station::for_plans(&catalog, "virtual-bench", &plans, &bench)
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for plan in plans {
        jobs.push(station.open(plan, Some("test")).await.unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("multi.db");
    let timeline = Timeline::default();
    let sinks = rigor_station::record_into(&store, vec![Box::new(timeline.clone())]).unwrap();
    let outcomes = station
        .run(jobs, &sinks, rigor_station::never_cancelled())
        .await
        .into_iter()
        .map(|o| (o.slot, o.result.unwrap()))
        .collect();
    let bench = station.bench().unwrap();
    let supply_on = ["gw1", "slot3"]
        .iter()
        .map(|s| (s.to_string(), bench.slot(s).unwrap().supply_on()))
        .collect();
    Ran {
        outcomes,
        timeline,
        store,
        supply_on,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_dies_mid_scenario_stops_the_sensors_at_their_next_barrier_and_all_is_recorded()
 {
    let mut bench = installed();
    bench
        .faults
        .insert("gw1".into(), vec![rigor_bench::Fault::CrashesOnCommand]);
    let ran = run("gateway-dies", bench).await;
    let gateway = &ran.outcomes["gw1"];
    assert_eq!(gateway.outcome, RunOutcome::Fail, "{:?}", gateway.message);
    let died = gateway.message.as_deref().unwrap();
    for slot in ["slot3", "slot4"] {
        let sensor = &ran.outcomes[slot];
        assert_eq!(
            sensor.outcome,
            RunOutcome::Error,
            "{slot}: {:?}",
            sensor.message
        );
        assert_eq!(
            sensor.message.as_deref(),
            Some(
                format!("barrier `done`: gateway[0] stopped ({died}) before reaching it").as_str()
            ),
            "{slot}"
        );
        // Stopped at the barrier: the step after it never ran, and teardown did.
        let events = ran.timeline.events();
        let after = events
            .iter()
            .find(|(s, w, l, _)| s == slot && *w == "finished" && l == "after-done")
            .unwrap();
        assert_eq!(after.3, Some(StepOutcome::Skipped));
        let released = ran.timeline.position(slot, "finished", "done");
        let power_off = events
            .iter()
            .rposition(|(s, w, l, _)| s == slot && *w == "finished" && l == "power")
            .unwrap();
        assert!(power_off > released, "{slot}: teardown's power off");
        assert_eq!(events[power_off].3, Some(StepOutcome::Pass), "{slot}");
    }
    assert!(ran.supply_on.values().all(|on| !on), "{:?}", ran.supply_on);
    let recorded = recorded(&ran.store);
    let outcomes: Vec<(&str, &str)> = recorded
        .iter()
        .map(|(role, _, status)| (role.as_str(), status.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("gateway[0]", "Fail"),
            ("sensor[0]", "Error"),
            ("sensor[1]", "Error")
        ]
    );
}

#[test]
fn a_rig_without_enough_slots_says_which_roles_could_not_be_placed() {
    let catalog = catalog();
    let err = plan_session(
        &catalog,
        "virtual-bench",
        "gateway-sensors",
        &[
            SlotSpec::new("gw1"),
            SlotSpec::new("slot3").profile("fridge-ctl-gen3"),
        ],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, StationError::Placement(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "scenario `gateway-sensors` cannot be placed on rig `virtual-bench`: role sensor could not be placed\n  \
         role sensor needs 2 slots of family fridge-ctl with uplink; rig virtual-bench has 1 free (slot3)"
    );
}
