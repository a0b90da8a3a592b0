//! rigor's console: the expect engine that drives a device's UART, the timestamped transcript of
//! everything said on it, and (feature `serial`) the backend for real serial ports and
//! pseudo-terminals.

mod error;
mod fuzz;
mod input;
mod pump;
mod search;
mod session;
mod transcript;

#[cfg(feature = "serial")]
mod port_id;
#[cfg(feature = "serial")]
mod serial;

pub use error::ExpectError;
#[doc(hidden)]
pub use fuzz::fuzz_expect;
#[cfg(feature = "serial")]
pub use port_id::{ParseUsbIdError, PortSelector, UsbId};
pub use pump::ReopenPolicy;
#[cfg(feature = "serial")]
pub use serial::SerialConsole;
pub use session::{ConsoleSession, LineEnding, Match, SessionOptions, Until};
pub use transcript::{Direction, Transcript, TranscriptEntry};
