//! The station's state behind the screen: the loaded files and route, the store, the recorder
//! every run goes through, each slot's controls (busy, abort, the waiting prompt) and the view.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rigor_model::Catalog;
use rigor_model::route::Route;
use rigor_station::Sinks;
use rigor_store::{StationDay, Store, StoreError, Timestamp};
use tokio::sync::watch;

use crate::error::ScreenError;
use crate::operator::AnswerSlot;
use crate::view::{PanelView, Shared, WearView};

/// One slot's controls.
pub struct SlotControl {
    /// The abort signal of the cycle running, if one is.
    cancel: Mutex<Option<watch::Sender<bool>>>,
    /// Whether a cycle runs, for waiting until none does.
    busy: watch::Sender<bool>,
    /// Where an answer to the slot's prompt goes.
    pub answers: AnswerSlot,
}

impl Default for SlotControl {
    fn default() -> Self {
        SlotControl {
            cancel: Mutex::new(None),
            busy: watch::channel(false).0,
            answers: AnswerSlot::default(),
        }
    }
}

impl SlotControl {
    /// Marks the slot busy with a new cycle and returns its abort signal; `None` if a cycle
    /// already runs.
    pub fn begin(&self) -> Option<watch::Receiver<bool>> {
        let mut cancel = self.cancel.lock().unwrap_or_else(PoisonError::into_inner);
        if cancel.is_some() {
            return None;
        }
        let (tx, rx) = watch::channel(false);
        *cancel = Some(tx);
        self.busy.send_replace(true);
        Some(rx)
    }

    /// The cycle is over: the slot takes the next scan.
    pub fn end(&self) {
        *self.cancel.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.busy.send_replace(false);
    }

    /// Waits until no cycle runs.
    pub async fn idle(&self) {
        let mut busy = self.busy.subscribe();
        let _ = busy.wait_for(|b| !*b).await;
    }

    /// Stops the running cycle; `false` if none runs.
    pub fn abort(&self) -> bool {
        let cancel = self.cancel.lock().unwrap_or_else(PoisonError::into_inner);
        cancel.as_ref().is_some_and(|tx| tx.send(true).is_ok())
    }
}

/// Everything the handlers and cycles share.
pub struct App {
    /// The loaded rigor files.
    pub catalog: Catalog,
    /// The rig.
    pub rig: String,
    /// The station's id as recorded (the rig's station id, else the rig's).
    pub station: String,
    /// The route.
    pub route: Route,
    /// Where the simulated units' firmware builds go, a folder per slot.
    pub builds: PathBuf,
    /// Every run's events go here: recorded, then shown.
    pub sinks: Sinks,
    /// The page's view.
    pub shared: Shared,
    /// Slot controls by slot.
    pub slots: BTreeMap<String, SlotControl>,
    /// A connection for the station's own records and queries.
    store: Arc<Mutex<Store>>,
    /// Set when the station shuts down: the pages' event streams end.
    pub closing: std::sync::atomic::AtomicBool,
    /// Faults the virtual bench builds into every unit of a slot.
    pub faults: BTreeMap<String, Vec<rigor_bench::Fault>>,
}

impl App {
    /// Assembles the station's state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: Catalog,
        rig: String,
        station: String,
        route: Route,
        builds: PathBuf,
        sinks: Sinks,
        shared: Shared,
        store: Store,
        faults: BTreeMap<String, Vec<rigor_bench::Fault>>,
    ) -> Self {
        let slots = shared
            .slot_names()
            .into_iter()
            .map(|s| (s, SlotControl::default()))
            .collect();
        App {
            catalog,
            rig,
            station,
            route,
            builds,
            sinks,
            shared,
            slots,
            store: Arc::new(Mutex::new(store)),
            closing: std::sync::atomic::AtomicBool::new(false),
            faults,
        }
    }

    /// Runs `f` on the store off the async workers (SQLite waits on disk and on other writers).
    pub async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ScreenError> {
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            f(&mut store.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
        .map_err(|_| ScreenError::Crashed)?;
        result.map_err(ScreenError::Store)
    }

    /// Reads today's figures (since midnight UTC) and shows them.
    pub async fn refresh_panel(&self) -> Result<(), ScreenError> {
        let rig = self.rig.clone();
        let now = Timestamp::now().as_micros();
        let midnight = now - now.rem_euclid(86_400_000_000);
        let day: StationDay = self
            .store(move |s| s.station_day(&rig, Timestamp(midnight)))
            .await?;
        self.shared.panel(PanelView {
            units: day.units,
            first_pass_yield: (day.first_tested > 0)
                .then(|| 100.0 * f64::from(day.first_pass) / f64::from(day.first_tested)),
            takt_seconds: day.average_seconds,
            top_failures: day
                .top_failures
                .into_iter()
                .map(|f| (f.what, f.count))
                .collect(),
        });
        Ok(())
    }

    /// The wear of `fixture` in `slot`, as the tile shows it.
    pub async fn wear(&self, slot: &str, fixture: &str) -> Result<WearView, ScreenError> {
        let limit = self
            .catalog
            .fixtures
            .get(fixture)
            .and_then(|f| f.value.wear.as_ref())
            .map_or(u32::MAX, |w| w.insertion_limit);
        let (rig, s, f) = (self.rig.clone(), slot.to_owned(), fixture.to_owned());
        let wear = self.store(move |st| st.fixture_wear(&rig, &s, &f)).await?;
        let count = wear.since_maintenance;
        let level = if count >= limit {
            "worn"
        } else if u64::from(count) * 10 >= u64::from(limit) * 9 {
            "warning"
        } else {
            "ok"
        };
        Ok(WearView {
            fixture: fixture.to_owned(),
            count,
            limit,
            level,
        })
    }
}
