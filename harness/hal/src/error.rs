//! What can go wrong at the seam to hardware, typed so the engine can tell whose fault it is.

use std::time::Duration;

/// A failure of a hardware backend.
///
/// Three kinds of bad news are kept apart (as tokio-modbus does): the transport failed (port gone,
/// connection refused, no answer) — the rig's fault; the far end answered with a refusal (a NACK,
/// an image rejected) — the device's; an instrument answered with a protocol exception — the rig
/// description's (a wrong register map). A measurement outside its limits is none of these: it is
/// data, judged by the engine.
///
/// Non-exhaustive: backends for new interfaces may need kinds of their own; match on
/// [`HalError::blame`] to decide what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HalError {
    /// The port, socket or probe is gone (unplugged, re-enumerating, closed by the far end).
    #[error("{what} is gone")]
    Disconnected {
        /// What was lost (`/dev/ttyUSB0`, `psu-1 at 127.0.0.1:5020`).
        what: String,
        /// The OS's reason, if it gave one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// An I/O error on the transport.
    #[error("{what}: i/o error")]
    Io {
        /// What was being used.
        what: String,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// What was asked.
        what: String,
        /// How long rigor waited.
        after: Duration,
    },
    /// An instrument answered a request with a Modbus exception.
    #[error("{what} answered with Modbus exception {code} ({name})")]
    Exception {
        /// The instrument and request.
        what: String,
        /// The exception code.
        code: u8,
        /// The exception's name (`illegal data address`).
        name: &'static str,
    },
    /// The device refused: an I²C NACK, an image it will not take.
    #[error("{what} refused: {reason}")]
    Refused {
        /// The device and request.
        what: String,
        /// Why, as the device or backend said.
        reason: String,
    },
    /// An I²C target did not acknowledge its address or a byte: absent, unpowered or busy.
    #[error("i²c address {address:#04x} on {bus} did not acknowledge")]
    Nack {
        /// The bus (`i2c-1`, `virtual bus of slot2`).
        bus: String,
        /// The 7-bit address.
        address: u8,
    },
    /// The rig description does not fit what is attached: two adapters answer to one USB identity,
    /// a path names something that is no serial port.
    #[error("{what}: {reason}")]
    Misconfigured {
        /// What was being set up.
        what: String,
        /// What does not fit.
        reason: String,
    },
    /// The backend cannot do this.
    #[error("{what} is not supported by {backend}")]
    Unsupported {
        /// The operation.
        what: String,
        /// The backend.
        backend: String,
    },
}

/// Whose fault a hardware failure is.
///
/// An instrument's exception is the rig's: the instrument belongs to the rig, and an exception
/// means its register map in the rig description is wrong, not that the device under test failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The rig: transport, timeout, instrument exception, an unsupported backend.
    Rig,
    /// The device under test refused.
    Device,
}

impl HalError {
    /// Whose fault this is; the engine retries only the rig's, and only if the rig allows it.
    pub fn blame(&self) -> Blame {
        match self {
            HalError::Refused { .. } | HalError::Nack { .. } => Blame::Device,
            HalError::Disconnected { .. }
            | HalError::Io { .. }
            | HalError::Timeout { .. }
            | HalError::Exception { .. }
            | HalError::Misconfigured { .. }
            | HalError::Unsupported { .. } => Blame::Rig,
        }
    }

    /// Whether the rig, not the device, failed: such an outcome is an error, not a fail.
    pub fn is_infrastructure(&self) -> bool {
        self.blame() == Blame::Rig
    }

    /// The Modbus exception code, if an instrument answered with one.
    pub fn exception_code(&self) -> Option<u8> {
        match self {
            HalError::Exception { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The name of a Modbus exception code, as the Modbus application protocol specification gives it.
pub fn modbus_exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}
