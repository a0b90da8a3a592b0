//! What can go wrong talking to a stub, and whose fault it is.

use std::time::Duration;

use rigor_hal::HalError;

/// A failure of a GDB remote session.
#[derive(Debug, thiserror::Error)]
pub enum GdbError {
    /// Nothing listens where the rig says the stub is.
    #[error("cannot reach the GDB stub at {address}")]
    Connect {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed.
    #[error("the GDB stub at {peer}: i/o error")]
    Io {
        /// The stub.
        peer: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The stub closed the connection.
    #[error("the GDB stub at {peer} closed the connection")]
    Closed {
        /// The stub.
        peer: String,
    },
    /// No answer in time.
    #[error("the GDB stub did not send {what} within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The stub answered `Exx`.
    #[error("the GDB stub at {peer} refused {request} with error {code}")]
    Refused {
        /// The stub.
        peer: String,
        /// The request.
        request: String,
        /// The two hex digits of its error.
        code: String,
    },
    /// The stub does not do this (an empty answer).
    #[error("the GDB stub at {peer} does not support {what}")]
    Unsupported {
        /// The stub.
        peer: String,
        /// The request.
        what: String,
    },
    /// The stub broke the protocol.
    #[error("the GDB stub at {peer} broke the protocol: {what}")]
    Protocol {
        /// The stub.
        peer: String,
        /// How.
        what: String,
    },
    /// The image cannot be loaded as it is.
    #[error("image {image}: {reason}")]
    Image {
        /// The image.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// What was written did not read back the same.
    #[error("verify failed at {address:#x}: {what}")]
    Verify {
        /// The first address of the range that differs.
        address: u64,
        /// How it differs.
        what: String,
    },
}

impl From<GdbError> for HalError {
    /// The rig's fault but for an image that cannot be loaded and memory that does not hold what
    /// was written (the device's flash, or a wrong load address: the device refused it).
    fn from(e: GdbError) -> Self {
        let text = e.to_string();
        match e {
            GdbError::Connect { source, .. } | GdbError::Io { source, .. } => {
                HalError::Io { what: text, source }
            }
            GdbError::Closed { peer } => HalError::Disconnected {
                what: format!("the GDB stub at {peer}"),
                source: None,
            },
            GdbError::Timeout { what, after } => HalError::Timeout {
                what: format!("the GDB stub's {what}"),
                after,
            },
            GdbError::Unsupported { peer, what } => HalError::Unsupported {
                what,
                backend: format!("the GDB stub at {peer}"),
            },
            GdbError::Protocol { .. } => HalError::Misconfigured {
                what: "the GDB remote session".to_owned(),
                reason: text,
            },
            GdbError::Refused { .. } | GdbError::Image { .. } | GdbError::Verify { .. } => {
                HalError::Refused {
                    what: "flashing over GDB remote".to_owned(),
                    reason: text,
                }
            }
        }
    }
}
