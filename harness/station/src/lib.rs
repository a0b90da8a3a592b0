//! rigor's station: the library every front end runs scenarios through (`rigor run`, `rigor
//! demo`, `rigor sim`, and later the operator screen and the test mode).
//!
//! The flow is one way: load the rigor files → bind a scenario to each slot ([`plan_slots`]:
//! nothing is touched yet) → start the [`Station`] (simulators, shared lines) → open each
//! slot's backends ([`Station::open`]) → run the slots ([`Station::run`]) → the engine's events
//! go to the [`Sinks`]: a writer thread records them in the store, then hands them to the
//! subscribers (progress, JSON lines, JUnit).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use rigor_station::{SlotSpec, Station, plan_slots};
//!
//! let catalog = rigor_station::load(&["device-profiles", "rigs", "fixtures", "examples"])?;
//! let slots = [SlotSpec::new("slot1").unit("FC1-000101")];
//! let params = [("build_dir".into(), rigor_model::value::Scalar::Text("out/fw".into()))].into();
//! let plans = plan_slots(&catalog, "virtual-bench", "smoke", &slots, &params)?;
//! let station = Station::for_plans(&catalog, "virtual-bench", &plans, &Default::default()).await?;
//! let mut jobs = Vec::new();
//! for plan in plans {
//!     jobs.push(station.open(plan, Some("me")).await?);
//! }
//! let sinks = rigor_station::record_into("rigor.db", Vec::new())?;
//! for outcome in station.run(jobs, &sinks, rigor_station::never_cancelled()).await {
//!     println!("{}: {:?}", outcome.slot, outcome.result?.outcome);
//! }
//! # Ok(()) }
//! ```

pub mod demo;
pub mod demo_qemu;
mod error;
pub mod lease;
pub mod open;
mod qemu_slot;
pub mod record;
pub mod rig_lease;
mod select;
mod session;
pub mod shipped;
pub mod sim;
mod slots;
mod station;

use std::path::Path;

pub use error::{ErrorKind, RequestError, StationError, chain};
pub use rigor_runner::event::{Event, Subscriber};
pub use rigor_runner::sinks::Sinks;
pub use select::{
    SlotPlan, SlotSpec, applies, choose, plan_run, plan_slot, plan_slots, rig, slots_for,
};
pub use session::plan_session;
pub use slots::{SlotError, SlotJob, run_slots};
pub use station::{BenchUnits, SlotOutcome, Station};

/// Loads the rigor files under `paths` (files or folders); every problem at once.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<rigor_model::Catalog, StationError> {
    let paths: Vec<_> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let (catalog, diagnostics) = rigor_model::load_paths(&paths);
    if diagnostics.is_empty() {
        Ok(catalog)
    } else {
        Err(StationError::Load(diagnostics))
    }
}

/// Opens (creating if needed) the store at `path` and starts the writer thread that records
/// every event there before `subscribers` see it.
pub fn record_into(
    path: impl AsRef<Path>,
    subscribers: Vec<Box<dyn Subscriber>>,
) -> Result<Sinks, StationError> {
    record_durably(path, rigor_store::Durability::default(), subscribers)
}

/// As [`record_into`], with each group's commit as durable as `durability` says: the default
/// survives the process being killed; [`rigor_store::Durability::PowerLoss`] fsyncs every group
/// and survives power loss. A spill an earlier run left is replayed first and logged.
pub fn record_durably(
    path: impl AsRef<Path>,
    durability: rigor_store::Durability,
    subscribers: Vec<Box<dyn Subscriber>>,
) -> Result<Sinks, StationError> {
    let path = path.as_ref();
    let (sinks, replayed) = open_recording(path, durability, subscribers)?;
    if let Some(replayed) = replayed {
        tracing::warn!(
            "{}",
            replayed.summary(&rigor_store::spill::spill_path(path))
        );
    }
    Ok(sinks)
}

/// As [`record_durably`], and says what replaying the spill an earlier run left beside the store
/// put into it (`None`: there was none), for a front end to tell its user in its own words
/// ([`rigor_store::spill::Replayed::summary`]).
pub fn open_recording(
    path: impl AsRef<Path>,
    durability: rigor_store::Durability,
    subscribers: Vec<Box<dyn Subscriber>>,
) -> Result<(Sinks, Option<rigor_store::spill::Replayed>), StationError> {
    let path = path.as_ref();
    let options = rigor_store::OpenOptions {
        durability,
        ..Default::default()
    };
    let store_error = |source: rigor_store::StoreError| StationError::Store {
        path: path.to_owned(),
        source: Box::new(source.at(path)),
    };
    let mut store = rigor_store::Store::open_with(path, &options).map_err(store_error)?;
    // What an earlier run could not record went to a spill beside the store: it goes in first,
    // so this run's attempt numbers follow it.
    let replayed = store
        .replay_spill(&rigor_store::spill::spill_path(path))
        .map_err(store_error)?;
    // Best effort: without the reserve, a full disk may leave no room for a spill, and the
    // failure then says the rest of the record is lost.
    let _ = rigor_store::spill::set_aside_reserve(path);
    let sinks = Sinks::new(
        Box::new(record::StoreRecorder::spilling_beside(store, path)),
        subscribers,
    );
    Ok((sinks, replayed))
}

/// A cancel signal that never fires, for runs nobody interrupts.
pub fn never_cancelled() -> tokio::sync::watch::Receiver<bool> {
    // The engine reads the signal's value, which stays `false` once the sender is gone.
    tokio::sync::watch::channel(false).1
}

/// A cancel signal that fires on Ctrl-C or SIGTERM (a CI job cancelled): each slot then tears
/// down and records its run as aborted. `on_signal` is called once, when it fires.
pub fn cancel_on_signals(
    on_signal: impl FnOnce() + Send + 'static,
) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        interrupted().await;
        on_signal();
        let _ = tx.send(true);
    });
    rx
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
