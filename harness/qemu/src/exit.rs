//! How a QEMU process ended, and whose fault that is.

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

use rigor_hal::Blame;
use tokio::sync::watch;

use crate::error::{Channel, QemuError};

/// The shell's code for a process killed by SIGABRT (128 + 6), as wrappers around QEMU report it.
const ABORT_EXIT_CODE: i32 = 128 + libc::SIGABRT;

/// How QEMU ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineExit {
    /// QEMU exited with this code: 0 after `quit` or a guest power-off, 1 for a bad command line.
    Code(i32),
    /// QEMU aborted (SIGABRT, or exit code 134 through a wrapper). QEMU aborts when the guest CPU
    /// locks up (a fault inside the HardFault handler) or the guest touches hardware QEMU only
    /// reports as a fatal error; `fatal` is QEMU's own explanation from its stderr.
    Aborted {
        /// QEMU's `qemu: fatal: ...` or `hardware error` line, if it printed one.
        fatal: Option<String>,
    },
    /// Killed by another signal (rigor kills QEMU with SIGKILL when the machine is dropped).
    Signal(i32),
}

impl MachineExit {
    /// Classifies an exit status; `stderr` is what QEMU printed last, to find its fatal message.
    pub fn from_status<'a>(status: ExitStatus, stderr: impl IntoIterator<Item = &'a str>) -> Self {
        use std::os::unix::process::ExitStatusExt;

        let aborted = status.signal() == Some(libc::SIGABRT) || status.code() == Some(134);
        if aborted {
            let fatal = stderr
                .into_iter()
                .find(|l| l.contains("fatal:") || l.contains("hardware error"))
                .map(|l| l.trim().to_owned());
            return MachineExit::Aborted { fatal };
        }
        match (status.code(), status.signal()) {
            (Some(code), _) => MachineExit::Code(code),
            (None, Some(signal)) => MachineExit::Signal(signal),
            // Neither code nor signal happens only for stopped processes, which `wait` never
            // returns; call it a failure rather than a success.
            (None, None) => MachineExit::Code(-1),
        }
    }

    /// Whether the device under test died: QEMU aborted because of what the guest did.
    pub fn is_dead_device(&self) -> bool {
        matches!(self, MachineExit::Aborted { .. })
    }

    /// Whose fault the exit is: an abort is the device's; anything else (a bad command line, a
    /// kill) is the rig's.
    pub fn blame(&self) -> Blame {
        if self.is_dead_device() {
            Blame::Device
        } else {
            Blame::Rig
        }
    }
}

impl fmt::Display for MachineExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineExit::Code(code) => write!(f, "exit code {code}"),
            MachineExit::Aborted { fatal: Some(fatal) } => {
                write!(f, "aborted (exit code {ABORT_EXIT_CODE}): {fatal}")
            }
            MachineExit::Aborted { fatal: None } => {
                write!(f, "aborted (exit code {ABORT_EXIT_CODE})")
            }
            MachineExit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// How long a client whose connection QEMU closed waits for QEMU's exit, to report the exit (a
/// dead device) rather than a bare closed connection. QEMU closes its sockets as it exits.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The machine's exit as it becomes known, shared by the clients of its interfaces.
#[derive(Debug, Clone)]
pub(crate) struct ExitWatch(watch::Receiver<Option<MachineExit>>);

impl ExitWatch {
    /// A watch and the sender that publishes the exit.
    pub(crate) fn channel() -> (watch::Sender<Option<MachineExit>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, ExitWatch(rx))
    }

    /// A watch of no process (a client on a socket of a QEMU rigor did not start).
    pub(crate) fn detached() -> Self {
        Self::channel().1
    }

    /// The exit, if QEMU has exited.
    pub(crate) fn now(&self) -> Option<MachineExit> {
        self.0.borrow().clone()
    }

    /// Waits up to `within` for the exit; `None` if QEMU still runs (or nobody watches it).
    pub(crate) async fn wait(&self, within: Duration) -> Option<MachineExit> {
        let mut rx = self.0.clone();
        let waited = tokio::time::timeout(within, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(exit)) => exit.clone(),
            _ => self.now(),
        }
    }

    /// The error for an interface QEMU closed: the device's death if QEMU aborted, QEMU's exit
    /// if it exited otherwise, a closed connection if it still runs.
    pub(crate) async fn closed(&self, channel: Channel) -> QemuError {
        match self.wait(EXIT_GRACE).await {
            Some(exit) => exit.into_error(),
            None => QemuError::Closed { channel },
        }
    }
}

impl MachineExit {
    /// The error that stands for this exit when the machine was still needed.
    pub fn into_error(self) -> QemuError {
        if self.is_dead_device() {
            QemuError::DeviceDead { exit: self }
        } else {
            QemuError::Exited { exit: self }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    const LOCKUP: &str = "qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)";

    #[test]
    fn sigabrt_is_a_dead_device_with_qemus_reason() {
        let status = ExitStatus::from_raw(libc::SIGABRT);
        let exit = MachineExit::from_status(status, ["Timer with period zero", LOCKUP, "R00=0"]);
        assert_eq!(
            exit,
            MachineExit::Aborted {
                fatal: Some(LOCKUP.to_owned())
            }
        );
        assert_eq!(exit.blame(), Blame::Device);
        assert!(exit.to_string().contains("exit code 134"));
    }

    #[test]
    fn exit_code_134_from_a_wrapper_is_an_abort_too() {
        let exit = MachineExit::from_status(ExitStatus::from_raw(134 << 8), []);
        assert_eq!(exit, MachineExit::Aborted { fatal: None });
        assert_eq!(exit.blame(), Blame::Device);
    }

    #[test]
    fn other_exits_are_the_rigs() {
        let bad_args = MachineExit::from_status(ExitStatus::from_raw(1 << 8), []);
        assert_eq!(bad_args, MachineExit::Code(1));
        assert_eq!(bad_args.blame(), Blame::Rig);
        let killed = MachineExit::from_status(ExitStatus::from_raw(libc::SIGKILL), []);
        assert_eq!(killed, MachineExit::Signal(libc::SIGKILL));
        assert_eq!(killed.blame(), Blame::Rig);
    }
}
