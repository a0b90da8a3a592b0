//! Flashing over the GDB remote serial protocol, the protocol of OpenOCD, Black Magic Probe, the
//! J-Link GDB server, pyOCD and QEMU's stub: a client of the requests flashing needs (memory
//! reads and writes sized to the stub's `PacketSize`, `qCRC`, monitor commands, detach) and a
//! [`rigor_hal::Flasher`] on it.

mod client;
mod error;
mod flasher;
mod image;
mod packet;

pub use client::GdbRemote;
pub use error::GdbError;
pub use flasher::{GdbFlasher, ResetMethod};
pub use image::{Segment, segments};
