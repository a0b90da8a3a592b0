//! Made-up but well-formed records, many of them fast, for the tests and benchmarks of whatever
//! reads a store (forwarding, analysis) without running scenarios.

use crate::error::StoreError;
use crate::input::{
    FirmwareImage, FixtureUse, Limits, MeasurementRecord, RunEnd, RunStart, ScenarioRef,
    StepRecord, UnitIdentity,
};
use crate::store::Store;
use crate::types::{FailureClass, MeasurementOutcome, RunOutcome, StepOutcome, Timestamp};

/// What to make.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// The station name the runs carry.
    pub station: String,
    /// Serials are `{serial_prefix}-{n:06}` for `n` in `0..units`.
    pub serial_prefix: String,
    /// How many distinct units the runs go round.
    pub units: usize,
    /// How many runs.
    pub runs: usize,
    /// The first run's start; each next run starts 1 s later.
    pub start: Timestamp,
    /// Runs committed per transaction.
    pub per_commit: usize,
    /// Leave the last run open (no end), as a run whose process died.
    pub last_open: bool,
}

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

impl Synthetic {
    /// Records the runs: each has 3 steps with 2 measurements each and a console log (one log
    /// in ten is shared with other runs, as identical content is); every fifth run fails.
    pub fn fill(&self, store: &mut Store) -> Result<(), StoreError> {
        let per_commit = self.per_commit.max(1);
        let mut i = 0;
        while i < self.runs {
            let mut batch = store.batch()?;
            for n in i..(i + per_commit).min(self.runs) {
                let at = self.start.0 + i64::try_from(n).unwrap_or(i64::MAX) * 1_000_000;
                let unit = n % self.units.max(1);
                let start = self.run_start(unit, n, at);
                let run = batch.begin_run(&start)?.id;
                for index in 0..3_u32 {
                    let t = at + i64::from(index) * 1000;
                    let step = StepRecord {
                        index,
                        step_id: format!("s{index}"),
                        kind: "measure".into(),
                        attempt: 1,
                        started_at: Timestamp(t),
                        ended_at: Timestamp(t + 900),
                        outcome: StepOutcome::Pass,
                        message: None,
                    };
                    let ms: Vec<_> = (0..2)
                        .map(|k| measurement(index, k, n, Timestamp(t + 500)))
                        .collect();
                    batch.record_step_with_measurements(run, &step, &ms)?;
                }
                let log = if n.is_multiple_of(10) {
                    b"boot ok\n".to_vec()
                } else {
                    format!("boot ok\nrun {n}\n").into_bytes()
                };
                batch.store_artifact(run, Some(0), "console.log", "text/plain", &log)?;
                if n + 1 == self.runs && self.last_open {
                    continue;
                }
                let fail = n % 5 == 4;
                batch.end_run(
                    run,
                    &RunEnd {
                        ended_at: Timestamp(at + 5000),
                        outcome: if fail {
                            RunOutcome::Fail
                        } else {
                            RunOutcome::Pass
                        },
                        failure_class: fail.then_some(FailureClass::Device),
                        message: fail.then(|| "vbat out of limits".to_owned()),
                    },
                )?;
            }
            batch.commit()?;
            i += per_commit;
        }
        Ok(())
    }

    /// The start of the `n`-th run, on the `unit`-th unit, at `at` µs: for tests that record a
    /// run of their own shape beside the generated ones.
    pub fn run_start(&self, unit: usize, n: usize, at: i64) -> RunStart {
        RunStart {
            unit: UnitIdentity {
                serial: format!("{}-{unit:06}", self.serial_prefix),
                family: "fridge-ctl".into(),
                generation: format!("gen{}", 1 + unit % 3),
            },
            scenario: ScenarioRef {
                name: if n.is_multiple_of(2) {
                    "smoke"
                } else {
                    "provisioning"
                }
                .into(),
                version: "3".into(),
                sha256: SHA_A.into(),
            },
            station: self.station.clone(),
            rig: "rack-a".into(),
            slot: format!("slot{}", 1 + n % 4),
            fixture: Some(FixtureUse {
                id: "fx-1".into(),
                insertions: Some(u32::try_from(n).unwrap_or(u32::MAX)),
            }),
            operator: "op".into(),
            firmware: Some(FirmwareImage {
                sha256: SHA_B.into(),
                version: Some("1.4.2".into()),
            }),
            limits_sha256: SHA_A.into(),
            session: None,
            started_at: Timestamp(at),
        }
    }
}

fn measurement(step: u32, k: u32, n: usize, at: Timestamp) -> MeasurementRecord {
    let fail = n % 5 == 4 && step == 2 && k == 1;
    // Spread values without randomness: the same run always gets the same values.
    let value = 3.3 + f64::from(u32::try_from(n % 17).unwrap_or(0)) * 0.001;
    MeasurementRecord {
        step_index: step,
        name: format!("m{step}_{k}"),
        value: Some(if fail { 2.9 } else { value }),
        text_value: None,
        unit: Some("V".into()),
        limits: Limits {
            comparator: "3.2 <= x <= 3.4".into(),
            low: Some(3.2),
            low_inclusive: true,
            high: Some(3.4),
            high_inclusive: true,
            marginal_low: None,
            marginal_high: None,
        },
        marginal: false,
        outcome: if fail {
            MeasurementOutcome::Fail
        } else {
            MeasurementOutcome::Pass
        },
        measured_at: at,
    }
}
