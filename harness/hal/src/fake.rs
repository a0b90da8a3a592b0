//! Fakes of every seam, for tests of the engine and of anything above it (as probe-rs exports
//! `FakeProbe`). They answer at once and never sleep: a fake LED that blinks reports its
//! transitions for a window without waiting it out, so tests under paused time stay instant.

mod console;
mod i2c;
mod instrument;
mod line;

pub use console::{ConsoleDevice, FakeConsole};
pub use i2c::FakeI2c;
pub use instrument::{FakeFlasher, FakeInstrument, FakeNet};
pub use line::FakeLine;

use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a fake's lock has failed already; keep going with its state.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
