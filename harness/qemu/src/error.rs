//! What can go wrong with the QEMU rig, and whose fault it is.

use std::io;
use std::time::Duration;

use rigor_hal::{Blame, HalError};

use crate::exit::MachineExit;

/// Which of QEMU's interfaces an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The QEMU Machine Protocol (JSON commands and events).
    Qmp,
    /// The qtest protocol (guest memory, interrupt lines).
    Qtest,
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Channel::Qmp => "qmp",
            Channel::Qtest => "qtest",
        })
    }
}

/// A failure of the QEMU rig or of the emulated device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QemuError {
    /// QEMU could not be started (not installed, not executable).
    #[error("starting `{program}`")]
    Spawn {
        /// The program run.
        program: String,
        /// The OS's reason.
        #[source]
        source: io::Error,
    },
    /// The sockets QEMU connects to could not be set up.
    #[error("preparing {what}")]
    Setup {
        /// What was being prepared.
        what: String,
        /// The OS's reason.
        #[source]
        source: io::Error,
    },
    /// QEMU exited before it was ready: usually an option this QEMU does not know.
    #[error("qemu exited while starting ({exit}); it said: {stderr}")]
    Startup {
        /// How it ended.
        exit: MachineExit,
        /// The end of what it printed.
        stderr: String,
    },
    /// The emulated device died: QEMU aborted on a CPU lockup or another fatal guest error.
    #[error("the device is dead: qemu {exit}")]
    DeviceDead {
        /// How QEMU ended.
        exit: MachineExit,
    },
    /// QEMU is gone for another reason (quit, killed).
    #[error("qemu is gone ({exit})")]
    Exited {
        /// How QEMU ended.
        exit: MachineExit,
    },
    /// An interface's connection failed.
    #[error("{channel} connection to qemu: i/o error")]
    Io {
        /// Which interface.
        channel: Channel,
        /// The OS's reason.
        #[source]
        source: io::Error,
    },
    /// QEMU closed an interface's connection while it still runs (or before its exit was seen).
    #[error("qemu closed the {channel} connection")]
    Closed {
        /// Which interface.
        channel: Channel,
    },
    /// QEMU sent something the protocol does not allow.
    #[error("{channel}: unexpected message from qemu: {message}")]
    Protocol {
        /// Which interface.
        channel: Channel,
        /// The message, or what was wrong with it.
        message: String,
        /// The JSON parser's reason, if it was not JSON.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// A QMP command failed.
    #[error("qmp command `{command}` failed: {class}: {desc}")]
    Command {
        /// The command.
        command: String,
        /// QEMU's error class (`GenericError`, `DeviceNotFound`).
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// A qtest command failed.
    #[error("qtest command `{command}` failed: {reply}")]
    Qtest {
        /// The command line sent.
        command: String,
        /// QEMU's reply (`FAIL Unknown device`).
        reply: String,
    },
    /// No answer in time.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// What was asked.
        what: String,
        /// How long rigor waited.
        after: Duration,
    },
    /// A command wiring the board's network failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Network {
        /// The command run.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// The machine lacks what the rig description names (a device, a serial port, a GPIO port).
    #[error("{what} not found on the machine: {detail}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// What there is instead.
        detail: String,
    },
}

impl QemuError {
    /// Whose fault this is: a dead device is the device's, everything else the rig's.
    pub fn blame(&self) -> Blame {
        match self {
            QemuError::DeviceDead { .. } => Blame::Device,
            _ => Blame::Rig,
        }
    }
}

impl From<QemuError> for HalError {
    /// Maps onto the seam's errors, keeping the blame: a dead device becomes
    /// [`HalError::Refused`] (the only device-blamed kind that fits a whole device), transport
    /// failures [`HalError::Io`], [`HalError::Disconnected`] or [`HalError::Timeout`], and the
    /// rest [`HalError::Misconfigured`].
    fn from(e: QemuError) -> Self {
        let what = |channel: Channel| format!("qemu {channel}");
        match e {
            QemuError::DeviceDead { exit } => HalError::Refused {
                what: "the device on qemu".to_owned(),
                reason: format!("it is dead: qemu {exit}"),
            },
            QemuError::Io { channel, source } => HalError::Io {
                what: what(channel),
                source,
            },
            QemuError::Spawn { program, source } => HalError::Io {
                what: format!("starting {program}"),
                source,
            },
            QemuError::Setup { what, source } => HalError::Io { what, source },
            QemuError::Closed { channel } => HalError::Disconnected {
                what: what(channel),
                source: None,
            },
            e @ QemuError::Exited { .. } => HalError::Disconnected {
                what: e.to_string(),
                source: None,
            },
            QemuError::Timeout { what, after } => HalError::Timeout { what, after },
            e => HalError::Misconfigured {
                what: "the qemu rig".to_owned(),
                reason: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_device_stays_the_devices_fault_through_the_seam() {
        let dead = QemuError::DeviceDead {
            exit: MachineExit::Aborted {
                fatal: Some("qemu: fatal: Lockup".to_owned()),
            },
        };
        assert_eq!(dead.blame(), Blame::Device);
        let hal = HalError::from(dead);
        assert_eq!(hal.blame(), Blame::Device);
        assert!(hal.to_string().contains("Lockup"), "{hal}");
    }

    #[test]
    fn transport_failures_are_the_rigs() {
        let closed = HalError::from(QemuError::Closed {
            channel: Channel::Qtest,
        });
        assert_eq!(closed.blame(), Blame::Rig);
        let failed = HalError::from(QemuError::Command {
            command: "qom-set".to_owned(),
            class: "GenericError".to_owned(),
            desc: "value 999.999 C is out of range".to_owned(),
        });
        assert_eq!(failed.blame(), Blame::Rig);
        assert!(failed.to_string().contains("out of range"), "{failed}");
    }
}
