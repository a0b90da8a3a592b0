//! A station: one rig made ready to run scenarios. It owns whatever stands behind the rig's
//! channels for as long as it lives (the virtual bench, QEMU boards, the RS-485 lines that
//! several slots share), opens each slot's backends for a bound plan, and runs slots in parallel
//! under their leases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rigor_bench::{Bench, Fault, UnitSpec};
use rigor_drivers::modbus::RtuBuses;
use rigor_model::Catalog;
use rigor_model::catalog::Entry;
use rigor_model::rig::Rig;
use rigor_qemu::QemuMachine;
use rigor_runner::devices::{Answer, ScriptedOperator};
use rigor_runner::engine::RunRequest;
use rigor_runner::firmware::FirmwareIdentity;
use rigor_runner::sinks::Sinks;
use tokio::sync::watch;

use crate::error::{RequestError, StationError};
use crate::lease::SlotLock;
use crate::select::SlotPlan;
use crate::slots::{SlotError, SlotJob, run_slots};

/// How the virtual bench builds its simulated units, by slot.
#[derive(Debug, Clone, Default)]
pub struct BenchUnits {
    /// Faults a slot's unit carries.
    pub faults: BTreeMap<String, Vec<Fault>>,
    /// The firmware version a slot's unit already carries (as units arrive from an earlier
    /// station); otherwise it is blank until a scenario flashes it.
    pub installed: BTreeMap<String, String>,
}

/// One slot's result.
#[derive(Debug)]
pub struct SlotOutcome {
    /// The slot.
    pub slot: String,
    /// How its run ended, or why it did not run or could not be recorded.
    pub result: Result<rigor_runner::engine::RunResult, SlotError>,
}

/// A rig made ready: its simulators started, its shared lines open.
pub struct Station {
    rig: Entry<Rig>,
    bench: Option<Bench>,
    /// QEMU boards started by `open`: they live as long as the station.
    machines: Mutex<Vec<Arc<QemuMachine>>>,
    rtu: Mutex<RtuBuses>,
    lock_dir: PathBuf,
    /// The private lock folder of a simulated rig, whose units exist only in this process.
    _private_locks: Option<tempfile::TempDir>,
}

impl Station {
    /// Makes `rig` ready. A rig with a virtual bench starts it with `units` in its slots (a slot
    /// without one gets no simulated unit); a QEMU rig starts a board per slot when a slot is
    /// opened.
    pub async fn start(
        catalog: &Catalog,
        rig: &str,
        units: Vec<UnitSpec>,
    ) -> Result<Station, StationError> {
        let rig = crate::select::rig(catalog, rig)?.clone();
        let bench = match &rig.value.virtual_bench {
            Some(settings) => {
                let models = catalog
                    .instruments
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect();
                Some(
                    Bench::start(&rig.value, &models, units, settings.seed)
                        .await
                        .map_err(|e| StationError::Bench(Box::new(e)))?,
                )
            }
            None => None,
        };
        // A simulated rig's units (the bench's, QEMU's boards) belong to this process alone:
        // its slots are locked within it. A real rig's slots are locked for the whole host.
        let simulated = rig.value.virtual_bench.is_some() || rig.value.qemu.is_some();
        let private_locks = simulated
            .then(|| tempfile::Builder::new().prefix("rigor-locks-").tempdir())
            .transpose()
            .map_err(|source| {
                StationError::Lock(crate::lease::LockError::Io {
                    path: std::env::temp_dir(),
                    source,
                })
            })?;
        let lock_dir = match &private_locks {
            Some(dir) => dir.path().to_owned(),
            None => crate::lease::default_dir(),
        };
        Ok(Station {
            rig,
            bench,
            machines: Mutex::new(Vec::new()),
            rtu: Mutex::new(RtuBuses::default()),
            lock_dir,
            _private_locks: private_locks,
        })
    }

    /// Starts the station for `plans`: on a virtual bench, each slot gets a simulated unit of
    /// the plan's generation (with the serial given, or one the bench makes up), built as
    /// `bench` says.
    pub async fn for_plans(
        catalog: &Catalog,
        rig: &str,
        plans: &[SlotPlan],
        bench: &BenchUnits,
    ) -> Result<Station, StationError> {
        let entry = crate::select::rig(catalog, rig)?;
        // What a killed rigor left impairing (namespaces, an interface's qdiscs and rules) is
        // removed at every start, not only when this run opens a link of its own.
        if let Err(e) = rigor_netfault::netns::sweep_once() {
            tracing::warn!("could not remove a killed rigor's network faults: {e}");
        }
        let running = || {
            plans
                .iter()
                .map(|p| p.plan.slot.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let named = bench.faults.keys().map(|s| ("--fault", s));
        for (option, slot) in named.chain(bench.installed.keys().map(|s| ("--installed", s))) {
            if entry.value.virtual_bench.is_none() {
                return Err(RequestError::NotSimulated {
                    option,
                    rig: rig.to_owned(),
                }
                .into());
            }
            if !plans.iter().any(|p| &p.plan.slot == slot) {
                return Err(RequestError::SlotNotRun {
                    option,
                    slot: slot.clone(),
                    running: running(),
                }
                .into());
            }
        }
        let seed = entry.value.virtual_bench.as_ref().map_or(0, |b| b.seed);
        let units = plans
            .iter()
            .map(|p| UnitSpec {
                slot: p.plan.slot.clone(),
                serial: p.unit.clone().unwrap_or_else(|| {
                    rigor_bench::serial_number(
                        p.profile.generation.as_deref().unwrap_or_default(),
                        &p.plan.slot,
                        seed,
                    )
                }),
                profile: p.profile.clone(),
                fixture: p.fixture.clone(),
                faults: bench.faults.get(&p.plan.slot).cloned().unwrap_or_default(),
                installed: bench.installed.get(&p.plan.slot).cloned(),
            })
            .collect();
        Station::start(catalog, rig, units).await
    }

    /// Takes slot leases under `dir` instead of the default folder.
    pub fn with_lock_dir(mut self, dir: PathBuf) -> Self {
        self.lock_dir = dir;
        self
    }

    /// The rig.
    pub fn rig(&self) -> &Rig {
        &self.rig.value
    }

    /// The virtual bench, when the rig has one.
    pub fn bench(&self) -> Option<&Bench> {
        self.bench.as_ref()
    }

    /// Opens the backends `plan` uses on its slot and makes the run's job. The operator's
    /// prompts are answered from the plan's answers; `operator` is the person's id.
    pub async fn open(
        &self,
        mut plan: SlotPlan,
        operator: Option<&str>,
    ) -> Result<SlotJob, StationError> {
        // The slot is ours before any of its ports is touched.
        let unit = plan.unit.as_deref().unwrap_or("to be identified");
        let lease = SlotLock::acquire(
            &self.lock_dir,
            &self.rig.value.rig,
            &plan.plan.slot,
            &format!("{} on unit {unit}", plan.plan.scenario.name),
        )?;
        // What the unit carries before the run: a bench unit tells (built with `--installed`, or
        // flashed by an earlier scenario); a QEMU board starts blank.
        let mut installed = None;
        let mut devices = match &self.rig.value.qemu {
            // Each slot of a QEMU rig is a board of its own.
            Some(qemu) => {
                if plan.unit.is_none() {
                    return Err(RequestError::SerialNeeded {
                        slot: plan.plan.slot.clone(),
                        why: "a QEMU board starts with blank flash, so it cannot tell its serial",
                    }
                    .into());
                }
                // The board's flash is blank until the run flashes it: nothing to ask.
                plan.plan.firmware_query = None;
                let (machine, devices) =
                    crate::qemu_slot::start(qemu, &plan.plan, &plan.profile).await?;
                self.machines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(machine);
                devices
            }
            None => {
                let endpoints = self.bench.as_ref().and_then(|b| b.slot(&plan.plan.slot));
                installed = endpoints
                    .and_then(|e| e.firmware())
                    .map(|f| FirmwareIdentity {
                        sha256: Some(f.sha256),
                        version: Some(f.version),
                    });
                if endpoints.is_some() {
                    // A simulated unit's firmware (or its blank flash) is known without asking.
                    plan.plan.firmware_query = None;
                }
                crate::open::open(&plan.plan, endpoints, &self.rtu).await?
            }
        };
        devices.operator = Some(Arc::new(ScriptedOperator::new(
            plan.answers.into_iter().map(Answer::Text),
        )));
        Ok(SlotJob {
            request: RunRequest {
                plan: plan.plan,
                unit: plan.unit,
                operator: operator.map(str::to_owned),
                infrastructure_retries: self.rig.value.defaults.infrastructure_retries,
                gate: None,
                session: plan.session,
                installed_firmware: installed,
            },
            devices,
            lease: Some(lease),
        })
    }

    /// Runs the jobs in parallel, each under its slot's lease, events to `sinks`, until done or
    /// `cancel` says stop (then each slot tears down and records its run as aborted). Results
    /// come in job order, once every record is durable.
    pub async fn run(
        &self,
        jobs: Vec<SlotJob>,
        sinks: &Sinks,
        cancel: watch::Receiver<bool>,
    ) -> Vec<SlotOutcome> {
        let results = run_slots(jobs, sinks, self.lock_dir.clone(), cancel).await;
        sinks.flush().await;
        results
            .into_iter()
            .map(|(slot, result)| SlotOutcome { slot, result })
            .collect()
    }
}
