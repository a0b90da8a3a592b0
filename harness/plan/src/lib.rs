//! Binding rigor scenarios to a device generation, a fixture and a rig slot.
//!
//! The bound plan is the engine's only input: every logical name (signal, I²C part, instrument
//! channel, network link) resolved to a concrete channel, every `${variable}` substituted, every
//! timeout, failure policy and limit known. All of it is checked here, before any hardware is
//! touched, and every problem is reported at the scenario step with a note at the other side.

pub mod bind;
pub mod matrix;
pub mod placement;
pub mod plan;
pub mod scope;

pub use bind::{Target, bind, bind_with_peers};
pub use matrix::{Row, Status, matrix, matrix_rows};
pub use plan::{BoundAction, BoundPlan, BoundStep};
