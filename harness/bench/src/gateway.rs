//! The gateway the fridge units report to: a simulated unit of its own family (`fridge-gw`) in a
//! slot of its own, with its own console, that prints each reading a unit's telemetry delivers
//! (`sensor FC2-000201 temp=4.31`). The readings travel the units' uplinks, through each slot's
//! impairment point, so impairing a unit's uplink impairs what the gateway hears of it.

use std::sync::{Arc, Mutex};

use crate::unit::{State, lock};

/// The capability a device profile names to be simulated as a gateway.
pub const CAPABILITY: &str = "gateway";

/// The bench's gateways; each unit's report reaches every one that is running.
#[derive(Debug, Clone, Default)]
pub struct Gateways(Arc<Mutex<Vec<Arc<Mutex<State>>>>>);

impl Gateways {
    /// Makes `unit` a gateway.
    pub(crate) fn add(&self, unit: Arc<Mutex<State>>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(unit);
    }

    /// A unit's reading reached the cloud: each running gateway logs it on its console (a
    /// gateway that is off or crashed hears nothing, as a real one).
    pub(crate) fn report(&self, serial: &str, temp: &str) {
        let gateways = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for gateway in gateways.iter() {
            let mut s = lock(gateway);
            if s.running() {
                s.console_log.push(format!("sensor {serial} temp={temp}"));
            }
        }
    }
}
