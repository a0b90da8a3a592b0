//! Modbus instruments and digital lines over tokio-modbus, on TCP or on an RTU serial line.
//!
//! Errors keep tokio-modbus's three kinds apart: a transport error or a timeout is the rig's (and
//! drops the connection, so the next request reconnects); an exception response is
//! [`rigor_hal::HalError::Exception`] with its code.

mod answer;
mod codec;
#[cfg(feature = "modbus-rtu")]
mod fuzz;
mod instrument;
mod line;
mod link;
#[cfg(feature = "modbus-rtu")]
mod rtu;

pub use codec::{decode, encode};
#[cfg(feature = "modbus-rtu")]
#[doc(hidden)]
pub use fuzz::fuzz_rtu_answers;
pub use instrument::{Endpoint, ModbusInstrument, REQUEST_TIMEOUT};
pub use line::ModbusLine;
#[cfg(feature = "modbus-rtu")]
pub use rtu::{RtuBus, RtuBuses, RtuSettings, StopBits};
