//! What the page shows, as one value the server keeps and pushes whole on every change: the
//! page never asks, it redraws from the latest view.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::sync::watch;

/// Where a slot is in its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Waiting for a unit's label.
    Ready,
    /// Testing a unit.
    Running,
    /// The unit passed every scenario of the route.
    Pass,
    /// The unit failed.
    Fail,
    /// The rig failed, not the unit.
    RigProblem,
    /// Stopped by a person.
    Aborted,
    /// The unit failed beyond the retest limit.
    Repair,
    /// The scan was refused (unknown label, worn fixture, unit awaiting repair).
    Refused,
}

/// A measurement as the tile lists it.
#[derive(Debug, Clone, Serialize)]
pub struct MeasurementView {
    /// Its name.
    pub name: String,
    /// Its value, with unit.
    pub value: String,
    /// Its limits, with unit.
    pub limits: String,
    /// `pass`, `marginal` or `fail`.
    pub verdict: &'static str,
}

/// A question the scenario asks the operator.
#[derive(Debug, Clone, Serialize)]
pub struct PromptView {
    /// The question.
    pub message: String,
    /// Buttons; the first passes. Empty when a text answer (a scan) is wanted.
    pub choices: Vec<String>,
    /// What the last answer was refused for, if it was.
    pub refused: Option<String>,
    /// Where the page fetches the prompt's picture, if it has one.
    pub image: Option<String>,
}

/// A fixture's wear as the tile shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct WearView {
    /// The fixture.
    pub fixture: String,
    /// Insertions since maintenance.
    pub count: u32,
    /// The fixture's limit.
    pub limit: u32,
    /// `ok`, `warning` (90 %) or `worn` (100 %: the slot refuses to start).
    pub level: &'static str,
}

/// One slot's tile.
#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    /// The rig's slot.
    pub slot: String,
    /// Where it is.
    pub phase: Phase,
    /// The unit's serial.
    pub unit: Option<String>,
    /// The unit's generation.
    pub generation: Option<String>,
    /// The scenario running, and its place in the route (`1/2`).
    pub scenario: Option<String>,
    /// See `scenario`.
    pub scenario_place: Option<String>,
    /// The unit's attempt at the scenario.
    pub attempt: Option<u32>,
    /// The step running.
    pub step: Option<String>,
    /// When the unit's cycle started (milliseconds since the epoch), for the elapsed time.
    pub started_ms: Option<u64>,
    /// How long the cycle took, once over.
    pub took_seconds: Option<f64>,
    /// The measurements of the cycle so far, newest last.
    pub measurements: Vec<MeasurementView>,
    /// The verdict in plain words (why it failed, what to do).
    pub reason: Option<String>,
    /// A question waiting for the operator.
    pub prompt: Option<PromptView>,
    /// The fixture's wear, once known.
    pub wear: Option<WearView>,
    /// How many units the slot has taken since the station started (each scan starts one).
    pub cycle: u64,
}

impl SlotView {
    fn new(slot: &str) -> Self {
        SlotView {
            slot: slot.to_owned(),
            phase: Phase::Ready,
            unit: None,
            generation: None,
            scenario: None,
            scenario_place: None,
            attempt: None,
            step: None,
            started_ms: None,
            took_seconds: None,
            measurements: Vec::new(),
            reason: None,
            prompt: None,
            wear: None,
            cycle: 0,
        }
    }
}

/// The station panel's figures for today.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PanelView {
    /// Units tested today.
    pub units: u32,
    /// First-pass yield today, in percent, over units first tested today.
    pub first_pass_yield: Option<f64>,
    /// Average test time per unit, in seconds.
    pub takt_seconds: Option<f64>,
    /// Top failures today: what, and how often.
    pub top_failures: Vec<(String, u32)>,
}

/// The whole screen.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenView {
    /// The station's name.
    pub station: String,
    /// The route: its id and scenarios.
    pub route: String,
    /// See `route`.
    pub scenarios: Vec<String>,
    /// The tiles, in the rig's slot order.
    pub slots: Vec<SlotView>,
    /// Today's figures.
    pub panel: PanelView,
}

/// The view, shared between the server's handlers, the slots' cycles and the events, with a
/// signal to the pages that it changed.
#[derive(Clone)]
pub struct Shared {
    view: Arc<Mutex<ScreenView>>,
    changed: watch::Sender<u64>,
}

impl Shared {
    /// A screen of `slots`, all ready.
    pub fn new(station: &str, route: &str, scenarios: &[String], slots: &[String]) -> Self {
        let view = ScreenView {
            station: station.to_owned(),
            route: route.to_owned(),
            scenarios: scenarios.to_vec(),
            slots: slots.iter().map(|s| SlotView::new(s)).collect(),
            panel: PanelView::default(),
        };
        Shared {
            view: Arc::new(Mutex::new(view)),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ScreenView> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The view as it is now.
    pub fn snapshot(&self) -> ScreenView {
        self.lock().clone()
    }

    /// A receiver told of every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Changes `slot`'s tile (no-op for an unknown slot) and tells the pages.
    pub fn slot(&self, slot: &str, change: impl FnOnce(&mut SlotView)) {
        {
            let mut view = self.lock();
            if let Some(tile) = view.slots.iter_mut().find(|s| s.slot == slot) {
                change(tile);
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Tells the pages to look again (when the station shuts down).
    pub fn touch(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Replaces the panel and tells the pages.
    pub fn panel(&self, panel: PanelView) {
        self.lock().panel = panel;
        self.changed.send_modify(|v| *v += 1);
    }

    /// A slot's tile as it is now.
    pub fn slot_view(&self, slot: &str) -> Option<SlotView> {
        self.lock().slots.iter().find(|s| s.slot == slot).cloned()
    }

    /// The slots' names.
    pub fn slot_names(&self) -> Vec<String> {
        self.lock().slots.iter().map(|s| s.slot.clone()).collect()
    }
}

/// A fresh tile for a new unit in `slot`: everything from the last unit cleared.
pub fn reset(tile: &mut SlotView, unit: &str) {
    let (wear, cycle) = (tile.wear.take(), tile.cycle);
    *tile = SlotView::new(&tile.slot);
    tile.wear = wear;
    tile.cycle = cycle + 1;
    tile.unit = Some(unit.to_owned());
}
