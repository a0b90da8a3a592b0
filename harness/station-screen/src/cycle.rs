//! One unit's cycle on one slot: the scanned label → its generation → the checks before any
//! hardware is touched (a label this station tests, a unit not waiting for repair, a fixture
//! not worn out) → the route's scenarios in order through the station library → PASS, FAIL
//! with the reason in plain words, or a rig problem → the label, or the repair bench.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rigor_bench::Fault;
use rigor_model::value::Scalar;
use rigor_runner::event::{FailureClass, RunOutcome};
use rigor_station::{BenchUnits, SlotPlan, SlotSpec, Station};
use rigor_store::{StationAction, StationActionKind, StationRole, Timestamp};
use tokio::sync::watch;

use crate::app::App;
use crate::error::ScreenError;
use crate::operator::ScreenOperator;
use crate::view::{Phase, reset};

/// How a cycle ended, for the tile.
struct Verdict {
    phase: Phase,
    reason: Option<String>,
}

impl Verdict {
    fn new(phase: Phase, reason: impl Into<String>) -> Self {
        Verdict {
            phase,
            reason: Some(reason.into()),
        }
    }
}

/// Tests the unit labelled `serial` in `slot` for `operator`; the slot must have been begun
/// (see [`crate::app::SlotControl::begin`]) with `cancel` as its abort signal.
pub async fn run(
    app: Arc<App>,
    slot: String,
    operator: String,
    serial: String,
    cancel: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    app.shared.slot(&slot, |tile| {
        reset(tile, &serial);
        tile.phase = Phase::Running;
        tile.started_ms = Some(started_ms);
    });
    let verdict = match test(&app, &slot, &operator, &serial, cancel).await {
        Ok(v) => v,
        Err(e) => Verdict::new(Phase::RigProblem, crate::reason::rig_problem(&chain(&e))),
    };
    app.shared.slot(&slot, |tile| {
        tile.phase = verdict.phase;
        tile.reason = verdict.reason;
        tile.step = None;
        tile.prompt = None;
        tile.took_seconds = Some(started.elapsed().as_secs_f64());
    });
    // This unit's insertion counts now.
    if let Some(fixture) = app
        .shared
        .slot_view(&slot)
        .and_then(|t| t.wear)
        .map(|w| w.fixture)
    {
        match app.wear(&slot, &fixture).await {
            Ok(wear) => app.shared.slot(&slot, |tile| tile.wear = Some(wear)),
            Err(e) => tracing::warn!("cannot read the wear of {fixture}: {}", chain(&e)),
        }
    }
    if let Err(e) = app.refresh_panel().await {
        tracing::warn!("cannot read today's figures: {}", chain(&e));
    }
    if let Some(control) = app.slots.get(&slot) {
        control.end();
    }
}

/// An error and its sources, in one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn test(
    app: &Arc<App>,
    slot: &str,
    operator: &str,
    serial: &str,
    cancel: watch::Receiver<bool>,
) -> Result<Verdict, ScreenError> {
    let route = &app.route;
    let Some(profile) = route.profile_of(serial).map(str::to_owned) else {
        let known: Vec<&str> = route.serials.values().map(|p| p.as_str()).collect();
        return Ok(Verdict::new(
            Phase::Refused,
            crate::reason::not_tested_here(serial, &known),
        ));
    };
    if let Err(e) = rigor_model::serial::check(serial) {
        return Ok(Verdict::new(
            Phase::Refused,
            format!("label `{serial}`: {e}"),
        ));
    }
    let owned = serial.to_owned();
    if app.store(move |s| s.awaits_repair(&owned)).await? {
        return Ok(Verdict::new(
            Phase::Repair,
            crate::reason::awaits_repair(serial),
        ));
    }
    let kind = rigor_station::rig(&app.catalog, &app.rig)?
        .value
        .slots
        .get(slot)
        .map(|s| s.kind.clone())
        .unwrap_or_default();
    let (profile_entry, fixture) =
        rigor_station::choose(&app.catalog, Some(&profile), &kind, slot)?;
    let generation = profile_entry.generation().to_owned();
    let family = profile_entry.family().to_owned();
    app.shared
        .slot(slot, |tile| tile.generation = Some(generation.clone()));
    let wear = app.wear(slot, &fixture.value.fixture).await?;
    let worn = wear.level == "worn";
    let (count, limit) = (wear.count, wear.limit);
    app.shared.slot(slot, |tile| tile.wear = Some(wear));
    if worn {
        return Ok(Verdict::new(
            Phase::Refused,
            crate::reason::worn(&fixture.value.fixture, count, limit),
        ));
    }

    let scenarios: Vec<&String> = route
        .scenarios
        .iter()
        .filter(|s| rigor_station::applies(&app.catalog, s, &profile))
        .collect();
    let simulated = rigor_station::rig(&app.catalog, &app.rig)?
        .value
        .virtual_bench
        .is_some();
    let build_dir = app.builds.join(slot);
    let (version, mut faults) = crate::simulated::unit(serial, &profile);
    faults.extend(app.faults.get(slot).into_iter().flatten());
    if simulated {
        crate::simulated::write_build(&build_dir, &family, &generation, &version).map_err(
            |source| ScreenError::Builds {
                path: build_dir.clone(),
                source,
            },
        )?;
    }
    let mut plans = Vec::new();
    for name in &scenarios {
        let mut params: BTreeMap<String, Scalar> = route
            .parameters
            .iter()
            .filter(|(k, _)| declares(app, name, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if simulated && declares(app, name, "build_dir") {
            params.insert(
                "build_dir".into(),
                Scalar::Text(build_dir.display().to_string()),
            );
        }
        let spec = SlotSpec::new(slot).profile(&profile).unit(serial);
        plans.extend(rigor_station::plan_slots(
            &app.catalog,
            &app.rig,
            name,
            &[spec],
            &params,
        )?);
    }
    run_plans(
        app, slot, operator, plans, simulated, faults, cancel, serial,
    )
    .await
}

/// Whether scenario `name` takes parameter `param`.
fn declares(app: &App, name: &str, param: &str) -> bool {
    app.catalog
        .scenarios
        .get(name)
        .is_some_and(|s| s.value.parameters.contains_key(param))
}

#[allow(clippy::too_many_arguments)]
async fn run_plans(
    app: &Arc<App>,
    slot: &str,
    operator: &str,
    plans: Vec<SlotPlan>,
    simulated: bool,
    faults: Vec<Fault>,
    cancel: watch::Receiver<bool>,
    serial: &str,
) -> Result<Verdict, ScreenError> {
    let Some(first) = plans.first() else {
        return Ok(Verdict::new(
            Phase::Refused,
            "no scenario of this station's route applies to this unit",
        ));
    };
    let mut bench = BenchUnits::default();
    if simulated {
        bench.faults.insert(slot.to_owned(), faults);
    }
    let station =
        Station::for_plans(&app.catalog, &app.rig, std::slice::from_ref(first), &bench).await?;
    let total = plans.len();
    for (i, plan) in plans.into_iter().enumerate() {
        if *cancel.borrow() {
            return aborted(slot, serial);
        }
        let scenario = plan.plan.scenario.name.clone();
        app.shared.slot(slot, |tile| {
            tile.scenario = Some(scenario.clone());
            tile.scenario_place = Some(format!("{} of {total}", i + 1));
        });
        let mut job = station.open(plan, Some(operator)).await?;
        if let Some(control) = app.slots.get(slot) {
            job.devices.operator = Some(Arc::new(ScreenOperator::new(
                app.shared.clone(),
                slot,
                control.answers.clone(),
                cancel.clone(),
            )));
        }
        let outcome = station
            .run(vec![job], &app.sinks, cancel.clone())
            .await
            .into_iter()
            .next();
        let result = match outcome.map(|o| o.result) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                return Ok(Verdict::new(
                    Phase::RigProblem,
                    crate::reason::rig_problem(&chain(&e)),
                ));
            }
            None => return Err(ScreenError::Crashed),
        };
        match (result.outcome, result.class) {
            (RunOutcome::Pass, _) => {}
            (RunOutcome::Aborted, _) => return aborted(slot, serial),
            (RunOutcome::Fail, _) | (RunOutcome::Error, Some(FailureClass::Device)) => {
                let why = failing_measurement(app, slot)
                    .or(result.message)
                    .unwrap_or_else(|| "failed".into());
                return failed(app, slot, serial, &scenario, why).await;
            }
            (RunOutcome::Error, _) => {
                let why = result.message.unwrap_or_default();
                return Ok(Verdict::new(
                    Phase::RigProblem,
                    crate::reason::rig_problem(&format!("{scenario}: {why}")),
                ));
            }
        }
    }
    drop(station);
    let printed = crate::label::print(app, serial).await;
    Ok(Verdict {
        phase: Phase::Pass,
        reason: printed,
    })
}

/// The first failing measurement of the cycle, as people read it.
fn failing_measurement(app: &App, slot: &str) -> Option<String> {
    let tile = app.shared.slot_view(slot)?;
    let m = tile.measurements.iter().find(|m| m.verdict == "fail")?;
    Some(crate::reason::outside_limits(&m.name, &m.value, &m.limits))
}

async fn failed(
    app: &Arc<App>,
    slot: &str,
    serial: &str,
    scenario: &str,
    why: String,
) -> Result<Verdict, ScreenError> {
    let owned = serial.to_owned();
    let failures = app.store(move |s| s.failures_since_repair(&owned)).await?;
    let limit = app.route.retest_limit;
    if failures > limit {
        let action = StationAction {
            at: Timestamp::now(),
            station: app.station.clone(),
            rig: app.rig.clone(),
            slot: Some(slot.to_owned()),
            kind: StationActionKind::SendToRepair,
            unit: Some(serial.to_owned()),
            fixture: None,
            person: "station".into(),
            role: StationRole::Station,
            note: Some(format!(
                "failed {failures} times (retest limit {limit}); last: {scenario}: {why}"
            )),
        };
        app.store(move |s| s.record_station_action(&action)).await?;
        return Ok(Verdict::new(
            Phase::Repair,
            crate::reason::send_to_repair(failures, limit, &why),
        ));
    }
    let retests = limit - failures + 1;
    Ok(Verdict::new(
        Phase::Fail,
        crate::reason::failed(scenario, &why, retests),
    ))
}

/// The person who pressed Abort is recorded by the button's handler; the run itself by the engine.
fn aborted(slot: &str, serial: &str) -> Result<Verdict, ScreenError> {
    Ok(Verdict::new(
        Phase::Aborted,
        crate::reason::aborted(serial, slot),
    ))
}
