//! A station runs one task per slot, in parallel; each holds its slot's lock for the whole run, so
//! two rigor processes never drive one slot.

use std::path::PathBuf;

use tokio::sync::watch;
use tracing::Instrument;

use rigor_runner::devices::SlotDevices;
use rigor_runner::engine::{RunError, RunRequest, RunResult, run};
use rigor_runner::sinks::Sinks;

use crate::lease::{LockError, SlotLock};

/// One slot's run: the request, its opened backends and, once taken, its slot's lease.
pub struct SlotJob {
    /// What to run.
    pub request: RunRequest,
    /// The slot's backends.
    pub devices: SlotDevices,
    /// The slot's lock, taken before its backends were opened; `None` takes it at the run.
    pub lease: Option<SlotLock>,
}

/// Why a slot's run did not happen or did not finish recording.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// The slot is in use.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Recording failed, or the unit could not be identified.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The slot's task panicked (a bug in rigor).
    #[error("the run of slot `{0}` crashed")]
    Crashed(String),
}

/// Runs every job in parallel, each under its slot's lock in `lock_dir`. Results come back in job order.
pub async fn run_slots(
    jobs: Vec<SlotJob>,
    sinks: &Sinks,
    lock_dir: PathBuf,
    cancel: watch::Receiver<bool>,
) -> Vec<(String, Result<RunResult, SlotError>)> {
    let mut tasks = Vec::new();
    for job in jobs {
        let slot = job.request.plan.slot.clone();
        let (sinks, cancel, dir) = (sinks.clone(), cancel.clone(), lock_dir.clone());
        let unit = job.request.unit.as_deref().unwrap_or("to be identified");
        let holder = format!("{} on unit {unit}", job.request.plan.scenario.name);
        // Every log line of the slot's run carries its slot, unit and scenario.
        let span = tracing::info_span!(
            "slot",
            slot = %job.request.plan.slot,
            unit = %unit,
            scenario = %job.request.plan.scenario.name,
        );
        let task = tokio::spawn(
            async move {
                let _lock = match job.lease {
                    Some(lease) => lease,
                    None => SlotLock::acquire(
                        &dir,
                        &job.request.plan.rig,
                        &job.request.plan.slot,
                        &holder,
                    )?,
                };
                tracing::debug!("slot locked");
                Ok::<_, SlotError>(run(job.request, job.devices, sinks, cancel).await?)
            }
            .instrument(span),
        );
        tasks.push((slot, task));
    }
    let mut out = Vec::new();
    for (slot, task) in tasks {
        let result = match task.await {
            Ok(r) => r,
            Err(_) => Err(SlotError::Crashed(slot.clone())),
        };
        out.push((slot, result));
    }
    out
}
