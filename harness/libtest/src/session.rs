//! The trials' shared station: one runtime, the station started at the first trial that runs
//! (listing touches nothing), one store writer, and a lock per slot so that trials of one slot
//! take turns.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use libtest_mimic::{Failed, Trial};
use rigor_model::Catalog;
use rigor_runner::event::{Event, FailureClass, RunOutcome, Subscriber};
use rigor_station::{SlotOutcome, SlotPlan, Station, StationError};
use tokio::sync::OnceCell;

use crate::trials::TrialPlan;
use crate::{Config, TestError};

/// What the trials share.
pub(crate) struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    catalog: Catalog,
    config: Config,
    /// One plan per slot, for the units the virtual bench builds.
    units: Vec<SlotPlan>,
    started: OnceCell<Started>,
    slots: BTreeMap<String, tokio::sync::Mutex<()>>,
    seen: Seen,
}

struct Started {
    station: Station,
    /// Given back after the last trial.
    leases: Mutex<Option<rigor_station::rig_lease::HeldLeases>>,
    sinks: rigor_station::Sinks,
    cancel: tokio::sync::watch::Receiver<bool>,
}

impl Session {
    pub(crate) fn new(
        catalog: Catalog,
        config: Config,
        plans: &[TrialPlan],
    ) -> Result<Session, TestError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(TestError::Runtime)?;
        let mut units: Vec<SlotPlan> = Vec::new();
        for plan in plans.iter().filter_map(|t| t.plan.as_ref().ok()) {
            if !units.iter().any(|u| u.plan.slot == plan.plan.slot) {
                units.push(plan.clone());
            }
        }
        let slots = plans
            .iter()
            .map(|t| (t.slot.clone(), tokio::sync::Mutex::new(())))
            .collect();
        Ok(Session {
            inner: Arc::new(Inner {
                runtime,
                catalog,
                config,
                units,
                started: OnceCell::new(),
                slots,
                seen: Seen::default(),
            }),
        })
    }

    /// The libtest trial of `plan`.
    pub(crate) fn trial(&self, plan: TrialPlan) -> Trial {
        let inner = Arc::clone(&self.inner);
        let ignored = plan.ignored.is_some();
        Trial::test(plan.name, move || inner.run(&plan.slot, plan.plan)).with_ignored_flag(ignored)
    }

    /// After the last trial: lets the subscribers write their files (JUnit) and stops the
    /// station. Returns what could not be written.
    pub(crate) fn finish(self) -> Vec<Box<dyn std::error::Error + Send + Sync>> {
        let inner = &self.inner;
        inner.runtime.block_on(async {
            let Some(started) = inner.started.get() else {
                return Vec::new();
            };
            let mut errors: Vec<Box<dyn std::error::Error + Send + Sync>> = started
                .sinks
                .finish()
                .await
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                .collect();
            let leases = started
                .leases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(leases) = leases
                && let Err(e) = leases.release().await
            {
                errors.push(Box::new(e));
            }
            errors
        })
    }
}

impl Inner {
    fn run(&self, slot: &str, plan: Result<SlotPlan, StationError>) -> Result<(), Failed> {
        let mut plan = plan.map_err(|e| failed("cannot bind", &e))?;
        self.runtime.block_on(async {
            let started = self
                .started
                .get_or_try_init(|| self.start())
                .await
                .map_err(|e| failed("cannot start the station", &e))?;
            let turn = match self.slots.get(slot) {
                Some(lock) => Some(lock.lock().await),
                None => None,
            };
            // A simulated unit without firmware cannot tell its serial: read its label, as the
            // person putting it in the slot would.
            if plan.unit.is_none()
                && let Some(bench) = started.station.bench().and_then(|b| b.slot(slot))
            {
                plan.unit = Some(bench.label.clone());
            }
            let mut job = started
                .station
                .open(plan, self.config.operator.as_deref())
                .await
                .map_err(|e| failed("cannot open the slot", &e))?;
            job.request.gate = started
                .leases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .and_then(|l| l.gate(slot));
            let outcome = started
                .station
                .run(vec![job], &started.sinks, started.cancel.clone())
                .await;
            let seen = self.seen.take(slot);
            drop(turn);
            verdict(outcome.into_iter().next(), seen)
        })
    }

    async fn start(&self) -> Result<Started, StationError> {
        let mut subscribers: Vec<Box<dyn Subscriber>> = vec![Box::new(self.seen.clone())];
        if let Some(path) = &self.config.junit {
            subscribers.push(Box::new(rigor_report::JunitWriter::new(path)));
        }
        let sinks = rigor_station::record_into(&self.config.store, subscribers)?;
        let station = Station::for_plans(
            &self.catalog,
            &self.config.rig,
            &self.units,
            &self.config.bench,
        )
        .await?;
        // The slots' leases before any slot is touched.
        let leases = match &self.config.lease {
            Some(policy) => {
                let slots: Vec<String> = self.units.iter().map(|u| u.plan.slot.clone()).collect();
                Some(
                    rigor_station::rig_lease::hold(policy, &self.config.rig, &slots, "rigor test")
                        .await?,
                )
            }
            None => None,
        };
        let cancel = rigor_station::cancel_on_signals(|| {
            eprintln!("interrupted: tearing down, then recording the runs as aborted")
        });
        Ok(Started {
            station,
            leases: Mutex::new(leases),
            sinks,
            cancel,
        })
    }
}

fn failed(what: &str, error: &dyn std::error::Error) -> Failed {
    Failed::from(format!("{what}: {}", rigor_station::chain(error)))
}

/// The trial's verdict from its run: a failed unit says which measurements were out of limits.
fn verdict(outcome: Option<SlotOutcome>, seen: SlotSeen) -> Result<(), Failed> {
    let Some(outcome) = outcome else {
        return Err(Failed::from("the station returned no run"));
    };
    let run = outcome
        .result
        .map_err(|e| failed("the run could not be recorded", &e))?;
    let unit = seen.unit.unwrap_or_else(|| "unknown unit".to_owned());
    let message = run.message.unwrap_or_default();
    match run.outcome {
        RunOutcome::Pass => Ok(()),
        RunOutcome::Fail if !seen.failed.is_empty() => Err(Failed::from(format!(
            "unit {unit} failed (attempt {}):\n  {}",
            run.attempt,
            seen.failed.join("\n  ")
        ))),
        RunOutcome::Fail => Err(Failed::from(format!(
            "unit {unit} failed (attempt {}): {message}",
            run.attempt
        ))),
        RunOutcome::Error => Err(Failed::from(match run.class {
            Some(FailureClass::Infrastructure) => {
                format!("rig problem (infrastructure), unit {unit}: {message}")
            }
            Some(class) => format!("{class} error, unit {unit}: {message}"),
            None => format!("error, unit {unit}: {message}"),
        })),
        RunOutcome::Aborted => Err(Failed::from(format!("aborted, unit {unit}: {message}"))),
    }
}

/// What the trials' runs showed, by slot: the unit and the measurements out of limits.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<BTreeMap<String, SlotSeen>>>);

#[derive(Default)]
struct SlotSeen {
    unit: Option<String>,
    failed: Vec<String>,
}

impl Seen {
    fn take(&self, slot: &str) -> SlotSeen {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(slot)
            .unwrap_or_default()
    }
}

impl Subscriber for Seen {
    fn on_event(&mut self, event: &Event) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::RunStarted { run } => {
                seen.entry(run.slot.clone()).or_default().unit = Some(run.unit.clone());
            }
            Event::Measured { slot, judged, .. } if !judged.verdict.passed() => {
                seen.entry(slot.clone())
                    .or_default()
                    .failed
                    .push(judged.describe());
            }
            _ => {}
        }
    }
}
