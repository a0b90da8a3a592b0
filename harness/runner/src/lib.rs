//! rigor's engine: runs bound plans on rig slots through the hardware seams, judges measurements,
//! and emits events that the store, the terminal and CI reports subscribe to.

pub mod devices;
pub mod engine;
pub mod event;
pub mod firmware;
pub mod identify;
mod impairment;
pub mod measurement;
pub mod recorder;
pub mod session;
pub mod sinks;
pub mod step;
