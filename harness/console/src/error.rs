//! Why an expectation was not met.

use std::sync::Arc;
use std::time::Duration;

use rigor_hal::{Blame, HalError};

/// Why an expectation was not met.
///
/// Whose fault it is decides the outcome: a pattern that never came is the device's (the step
/// fails); a port that was gone or a session that had stopped is the rig's (the step errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectError {
    /// The pattern did not appear in time.
    #[error("{patterns} not seen within {within:?}; {}", describe_tail(.tail))]
    NotSeen {
        /// The patterns, quoted (`` `ready` ``, `` any of `a`, `b` ``).
        patterns: String,
        /// How long rigor waited.
        within: Duration,
        /// The last characters received (consumed or not), for the failure message.
        tail: String,
    },
    /// The port vanished and was still gone when the wait ended.
    #[error(
        "console {port} was gone while waiting for {patterns} ({failed_reopens} reopen attempts failed): {source}"
    )]
    PortGone {
        /// The port.
        port: String,
        /// The patterns, quoted.
        patterns: String,
        /// How often reopening it failed meanwhile.
        failed_reopens: u32,
        /// What made it vanish.
        #[source]
        source: Arc<HalError>,
    },
    /// The session's port task had stopped (it panicked), so nothing more could arrive.
    #[error("console {port} was closed while waiting for {patterns}")]
    Closed {
        /// The port.
        port: String,
        /// The patterns, quoted.
        patterns: String,
    },
}

impl ExpectError {
    /// Whose fault it is: the device's if it did not say what was expected, or if the port went
    /// with the device (an emulated board that died takes its UART with it); else the rig's.
    pub fn blame(&self) -> Blame {
        match self {
            ExpectError::NotSeen { .. } => Blame::Device,
            ExpectError::PortGone { source, .. } => source.blame(),
            ExpectError::Closed { .. } => Blame::Rig,
        }
    }
}

fn describe_tail(tail: &str) -> String {
    if tail.is_empty() {
        "the device sent nothing".to_owned()
    } else {
        format!("last output: {tail:?}")
    }
}

/// The patterns of a wait, quoted for messages.
pub(crate) fn quote(patterns: &[&regex::Regex]) -> String {
    let quoted: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        more => format!("any of {}", more.join(", ")),
    }
}
