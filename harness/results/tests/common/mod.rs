//! A small store with known numbers, written through the store's own record API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use rigor_store::{
    FailureClass, FirmwareImage, FixtureUse, Limits, MeasurementOutcome, MeasurementRecord, RunEnd,
    RunOutcome, RunStart, ScenarioRef, StepOutcome, StepRecord, Store, Timestamp, UnitIdentity,
};

pub const DAY: i64 = 86_400_000_000;
/// 2026-03-02T00:00:00Z.
pub const T0: i64 = 1_772_409_600_000_000;

pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub store: Store,
}

impl TempStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rigor.db");
        let store = Store::open(&path).unwrap();
        TempStore { dir, path, store }
    }
}

/// A step to record: its id, outcome and readings (name, value).
pub type StepSpec<'a> = (&'a str, StepOutcome, Vec<(&'a str, f64)>);

/// One attempt to record.
pub struct Attempt<'a> {
    pub serial: &'a str,
    pub generation: &'a str,
    pub scenario: &'a str,
    pub station: &'a str,
    pub fixture: &'a str,
    pub firmware: &'a str,
    pub at: i64,
    pub outcome: RunOutcome,
    pub class: Option<FailureClass>,
    pub steps: Vec<StepSpec<'a>>,
}

impl<'a> Attempt<'a> {
    pub fn new(serial: &'a str, scenario: &'a str, at: i64) -> Self {
        Attempt {
            serial,
            generation: "gen3",
            scenario,
            station: "station-a",
            fixture: "fx-1",
            firmware: "2.4.1",
            at,
            outcome: RunOutcome::Pass,
            class: None,
            steps: Vec::new(),
        }
    }
}

/// The limits of the readings tests record: vbat 3.2 ≤ x ≤ 3.4 V (marginal 3.22–3.38),
/// current x < 0.5 A, temp no limits.
pub fn limits(name: &str) -> (Limits, Option<&'static str>) {
    match name {
        "vbat" => (
            Limits {
                comparator: "3.2 <= x <= 3.4".into(),
                low: Some(3.2),
                low_inclusive: true,
                high: Some(3.4),
                high_inclusive: true,
                marginal_low: Some(3.22),
                marginal_high: Some(3.38),
            },
            Some("V"),
        ),
        "current" => (
            Limits {
                comparator: "x < 0.5".into(),
                low: None,
                low_inclusive: true,
                high: Some(0.5),
                high_inclusive: false,
                marginal_low: None,
                marginal_high: None,
            },
            Some("A"),
        ),
        _ => (
            Limits {
                comparator: "any".into(),
                low: None,
                low_inclusive: true,
                high: None,
                high_inclusive: true,
                marginal_low: None,
                marginal_high: None,
            },
            None,
        ),
    }
}

pub fn judge(l: &Limits, v: f64) -> MeasurementOutcome {
    let lo = l
        .low
        .is_none_or(|lo| if l.low_inclusive { v >= lo } else { v > lo });
    let hi = l
        .high
        .is_none_or(|hi| if l.high_inclusive { v <= hi } else { v < hi });
    if lo && hi {
        MeasurementOutcome::Pass
    } else {
        MeasurementOutcome::Fail
    }
}

pub fn record(store: &mut Store, a: &Attempt<'_>) -> i64 {
    let run = store
        .begin_run(&RunStart {
            unit: UnitIdentity {
                serial: a.serial.into(),
                family: "sensor-node".into(),
                generation: a.generation.into(),
            },
            scenario: ScenarioRef {
                name: a.scenario.into(),
                version: "1.0.0".into(),
                sha256: "1".repeat(64),
            },
            station: a.station.into(),
            rig: "rig-1".into(),
            slot: "1".into(),
            fixture: Some(FixtureUse {
                id: a.fixture.into(),
                insertions: None,
            }),
            operator: "op-7".into(),
            firmware: Some(FirmwareImage {
                sha256: "3".repeat(64),
                version: Some(a.firmware.into()),
            }),
            limits_sha256: "2".repeat(64),
            session: None,
            started_at: Timestamp(a.at),
        })
        .unwrap();
    for (i, (id, outcome, readings)) in a.steps.iter().enumerate() {
        let index = i as u32;
        let at = a.at + 1_000 * (i as i64 + 1);
        let ms: Vec<MeasurementRecord> = readings
            .iter()
            .map(|(name, value)| {
                let (limits, unit) = limits(name);
                let outcome = judge(&limits, *value);
                let marginal = outcome == MeasurementOutcome::Pass
                    && (limits.marginal_low.is_some_and(|m| *value < m)
                        || limits.marginal_high.is_some_and(|m| *value > m));
                MeasurementRecord {
                    step_index: index,
                    name: (*name).into(),
                    value: Some(*value),
                    text_value: None,
                    unit: unit.map(Into::into),
                    limits,
                    marginal,
                    outcome,
                    measured_at: Timestamp(at),
                }
            })
            .collect();
        let step = StepRecord {
            index,
            step_id: (*id).into(),
            kind: "measure".into(),
            attempt: 1,
            started_at: Timestamp(at - 500),
            ended_at: Timestamp(at),
            outcome: *outcome,
            message: None,
        };
        store
            .record_step_with_measurements(run.id, &step, &ms)
            .unwrap();
    }
    store
        .end_run(
            run.id,
            &RunEnd {
                ended_at: Timestamp(a.at + 60_000_000),
                outcome: a.outcome,
                failure_class: a.class,
                message: None,
            },
        )
        .unwrap();
    run.id.0
}

fn passing<'a>(serial: &'a str, scenario: &'a str, at: i64, vbat: f64) -> Attempt<'a> {
    let mut a = Attempt::new(serial, scenario, at);
    a.steps = vec![
        (
            "power-on",
            StepOutcome::Pass,
            vec![("vbat", vbat), ("current", 0.21)],
        ),
        ("temp", StepOutcome::Pass, vec![("temp", 24.0)]),
    ];
    a
}

fn failing<'a>(serial: &'a str, scenario: &'a str, at: i64, vbat: f64) -> Attempt<'a> {
    let mut a = passing(serial, scenario, at, vbat);
    a.steps[0].1 = StepOutcome::Fail;
    a.steps[1].1 = StepOutcome::Skipped;
    a.steps[1].2.clear();
    a.outcome = RunOutcome::Fail;
    a.class = Some(FailureClass::Device);
    a
}

/// The fixture store used by the view tests:
/// - smoke: SN1 pass; SN2 fail (vbat 3.45) then pass; SN3 infrastructure error then pass;
///   SN4 fail (vbat 3.15), fail again, never passes; SN5 (gen2, station-b) pass on day 2;
///   SN6 (gen2, station-b, fx-2) fail 3.41 then pass.
/// - provisioning: SN1 pass; SN2 pass; SN3 fail (3.18) then pass.
pub fn fixture_store() -> TempStore {
    let mut t = TempStore::new();
    let s = &mut t.store;
    let h = 3_600_000_000;
    record(s, &passing("SN1", "smoke", T0, 3.30));
    record(s, &failing("SN2", "smoke", T0 + h, 3.45));
    record(s, &passing("SN2", "smoke", T0 + 2 * h, 3.31));
    let mut infra = Attempt::new("SN3", "smoke", T0 + 3 * h);
    infra.outcome = RunOutcome::Error;
    infra.class = Some(FailureClass::Infrastructure);
    infra.steps = vec![("power-on", StepOutcome::Error, vec![])];
    record(s, &infra);
    record(s, &passing("SN3", "smoke", T0 + 4 * h, 3.29));
    record(s, &failing("SN4", "smoke", T0 + 5 * h, 3.15));
    record(s, &failing("SN4", "smoke", T0 + 6 * h, 3.16));
    let mut sn5 = passing("SN5", "smoke", T0 + DAY, 3.33);
    sn5.generation = "gen2";
    sn5.station = "station-b";
    record(s, &sn5);
    let mut sn6 = failing("SN6", "smoke", T0 + DAY + h, 3.41);
    sn6.generation = "gen2";
    sn6.station = "station-b";
    sn6.fixture = "fx-2";
    record(s, &sn6);
    let mut sn6b = passing("SN6", "smoke", T0 + DAY + 2 * h, 3.32);
    sn6b.generation = "gen2";
    sn6b.station = "station-b";
    sn6b.fixture = "fx-2";
    record(s, &sn6b);
    record(s, &passing("SN1", "provisioning", T0 + 7 * h, 3.30));
    record(s, &passing("SN2", "provisioning", T0 + 8 * h, 3.28));
    record(s, &failing("SN3", "provisioning", T0 + 9 * h, 3.18));
    record(s, &passing("SN3", "provisioning", T0 + 10 * h, 3.27));
    t
}
