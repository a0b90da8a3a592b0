//! The QEMU process: its command line, its startup, its end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigor_console::{PortSelector, SerialConsole};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::board::MACHINE;
use crate::error::QemuError;
use crate::exit::{ExitWatch, MachineExit};
use crate::qmp::Qmp;
use crate::qtest::Qtest;

/// Lines of QEMU's stderr kept, for its fatal message and for startup errors.
const STDERR_LINES: usize = 64;

/// The label QEMU gives the board's first UART (`-serial pty`).
pub const SERIAL0: &str = "serial0";

/// What to run: the board, the firmware, the devices around it.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The QEMU binary.
    pub program: PathBuf,
    /// The machine type.
    pub machine: String,
    /// The firmware, an ELF loaded by QEMU's `-kernel` (at its link addresses); `None` for a
    /// board with blank flash, as it arrives to be flashed over GDB remote.
    pub kernel: Option<PathBuf>,
    /// `-device` arguments ([`crate::tmp105_device`]).
    pub devices: Vec<String>,
    /// Where QEMU's GDB stub listens, if it should (`-gdb tcp:ADDR`).
    pub gdb: Option<SocketAddr>,
    /// More arguments, appended last.
    pub extra_args: Vec<String>,
    /// How long QEMU may take to connect its sockets and greet.
    pub startup_timeout: Duration,
    /// How long a QMP or qtest command may take.
    pub command_timeout: Duration,
}

impl QemuConfig {
    /// Debian's `qemu-system-arm` running `kernel` on an `lm3s6965evb`.
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        QemuConfig {
            program: PathBuf::from("qemu-system-arm"),
            machine: MACHINE.to_owned(),
            kernel: Some(kernel.into()),
            devices: Vec::new(),
            gdb: None,
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
        }
    }

    /// Debian's `qemu-system-arm` with an `lm3s6965evb` whose flash is blank.
    pub fn blank() -> Self {
        QemuConfig {
            kernel: None,
            ..QemuConfig::new("")
        }
    }

    /// Adds a `-device`.
    pub fn device(mut self, spec: impl Into<String>) -> Self {
        self.devices.push(spec.into());
        self
    }

    /// Adds a `-nic` (a network card and its backend, [`crate::BoardNetwork::nic`]).
    pub fn nic(mut self, spec: impl Into<String>) -> Self {
        self.extra_args.extend(["-nic".to_owned(), spec.into()]);
        self
    }

    /// QEMU's arguments, with its QMP and qtest sockets at `qmp` and `qtest`.
    ///
    /// QEMU starts halted (`-S`) so nothing the firmware prints is lost before the console is
    /// open, and connects to both sockets as a client while it starts: rigor listens first, so
    /// there is nothing to poll for. `-accel tcg` keeps the CPUs running under qtest, and
    /// `-qtest-log none` keeps qtest's traffic out of stderr, where QEMU's fatal messages go.
    pub fn args(&self, qmp: &Path, qtest: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "-M",
            &self.machine,
            "-nographic",
            "-monitor",
            "none",
            "-S",
            "-accel",
            "tcg",
            "-serial",
            "pty",
            "-chardev",
            &format!("socket,id=rigor-qmp,path={}", qmp.display()),
            "-mon",
            "chardev=rigor-qmp,mode=control",
            "-qtest",
            &format!("unix:{}", qtest.display()),
            "-qtest-log",
            "none",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if let Some(gdb) = self.gdb {
            args.extend(["-gdb".to_owned(), format!("tcp:{gdb}")]);
        }
        if let Some(kernel) = &self.kernel {
            args.extend(["-kernel".to_owned(), kernel.display().to_string()]);
        }
        for device in &self.devices {
            args.extend(["-device".to_owned(), device.clone()]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// A running QEMU, halted until [`QemuMachine::cont`]. Dropping it kills QEMU.
pub struct QemuMachine {
    qmp: Arc<Qmp>,
    qtest: Arc<Qtest>,
    exit: ExitWatch,
    stderr: Arc<Mutex<VecDeque<String>>>,
    kill: Option<oneshot::Sender<()>>,
    pid: Option<u32>,
    command_line: Vec<String>,
    /// Holds the sockets' directory until QEMU is gone.
    _dir: tempfile::TempDir,
}

impl Drop for QemuMachine {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

impl QemuMachine {
    /// Starts QEMU as `config` says and connects to its QMP and qtest interfaces. The guest does
    /// not run yet: open the console, set up the lines, then [`QemuMachine::cont`].
    pub async fn start(config: &QemuConfig) -> Result<Self, QemuError> {
        let dir = tempfile::Builder::new()
            .prefix("rigor-qemu-")
            .tempdir()
            .map_err(|source| QemuError::Setup {
                what: "a directory for qemu's sockets".to_owned(),
                source,
            })?;
        let (qmp_path, qtest_path) = (dir.path().join("qmp.sock"), dir.path().join("qtest.sock"));
        let listen = |path: &Path| {
            UnixListener::bind(path).map_err(|source| QemuError::Setup {
                what: format!("a socket at {}", path.display()),
                source,
            })
        };
        let (qmp_listener, qtest_listener) = (listen(&qmp_path)?, listen(&qtest_path)?);
        let args = config.args(&qmp_path, &qtest_path);
        let program = config.program.display().to_string();
        let mut child = Command::new(&config.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // If the runtime goes down before the waiter task kills it.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| QemuError::Spawn {
                program: program.clone(),
                source,
            })?;
        let pid = child.id();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (exit_tx, exit) = ExitWatch::channel();
        let (kill, kill_rx) = oneshot::channel();
        let stderr_task = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(keep_tail(pipe, stderr.clone())));
        tokio::spawn(wait_for_exit(
            child,
            kill_rx,
            stderr_task,
            stderr.clone(),
            exit_tx,
        ));
        let mut command_line = vec![program];
        command_line.extend(args);

        let deadline = Instant::now() + config.startup_timeout;
        let startup = async {
            let (qmp, qtest) = tokio::try_join!(
                accept(&qmp_listener, "qmp", deadline, &exit, &stderr),
                accept(&qtest_listener, "qtest", deadline, &exit, &stderr),
            )?;
            let qtest = Qtest::new(qtest, exit.clone(), config.command_timeout);
            let qmp = Qmp::handshake(qmp, exit.clone(), config.command_timeout).await?;
            Ok::<_, QemuError>((qmp, qtest))
        };
        // On failure `kill` is dropped with this frame, which ends QEMU too.
        let (qmp, qtest) = startup.await.map_err(|e| match e {
            // QEMU connects its sockets before it checks the rest of its command line.
            QemuError::Exited { exit } | QemuError::DeviceDead { exit } => QemuError::Startup {
                exit,
                stderr: lock(&stderr)
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" | "),
            },
            e => e,
        })?;
        Ok(QemuMachine {
            qmp: Arc::new(qmp),
            qtest: Arc::new(qtest),
            exit,
            stderr,
            kill: Some(kill),
            pid,
            command_line,
            _dir: dir,
        })
    }

    /// The command line QEMU was started with, for logs and reports.
    pub fn command_line(&self) -> &[String] {
        &self.command_line
    }

    /// QEMU's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The QMP connection.
    pub fn qmp(&self) -> &Arc<Qmp> {
        &self.qmp
    }

    /// The qtest connection.
    pub fn qtest(&self) -> &Arc<Qtest> {
        &self.qtest
    }

    /// The pty of the board's first UART.
    pub async fn serial_pty(&self) -> Result<PathBuf, QemuError> {
        self.qmp.pty_of(SERIAL0).await
    }

    /// Opens the board's first UART with rigor's serial console. Open it before
    /// [`QemuMachine::cont`]: what the firmware prints while no one has the pty open is lost.
    ///
    /// QEMU 7.2 notices the opened pty at once when the guest writes, but polls it once a second
    /// before it reads what rigor types: the first command may wait up to a second (nothing is
    /// lost; the bytes wait in the pty).
    pub async fn open_console(&self, baud: u32) -> Result<SerialConsole, rigor_hal::HalError> {
        let pty = self.serial_pty().await?;
        SerialConsole::open(PortSelector::path(pty), baud)
    }

    /// Lets the guest run.
    pub async fn cont(&self) -> Result<(), QemuError> {
        self.qmp.cont().await
    }

    /// How QEMU ended, if it has.
    pub fn exit(&self) -> Option<MachineExit> {
        self.exit.now()
    }

    /// Whether the machine still runs: an error saying how it ended if not (a dead device if QEMU
    /// aborted).
    pub fn check(&self) -> Result<(), QemuError> {
        match self.exit.now() {
            Some(exit) => Err(exit.into_error()),
            None => Ok(()),
        }
    }

    /// Waits up to `within` for QEMU to end, and says how it did.
    pub async fn wait_exit(&self, within: Duration) -> Result<MachineExit, QemuError> {
        self.exit
            .wait(within)
            .await
            .ok_or_else(|| QemuError::Timeout {
                what: "qemu's exit".to_owned(),
                after: within,
            })
    }

    /// Asks QEMU to quit and waits (up to `within`) for it to end.
    pub async fn quit(self, within: Duration) -> Result<MachineExit, QemuError> {
        self.qmp.quit().await?;
        self.wait_exit(within).await
    }

    /// The last lines QEMU wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        lock(&self.stderr).iter().cloned().collect()
    }
}

fn lock(m: &Mutex<VecDeque<String>>) -> std::sync::MutexGuard<'_, VecDeque<String>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Accepts QEMU's connection to `listener`, unless QEMU exits or the deadline passes first.
async fn accept(
    listener: &UnixListener,
    what: &str,
    deadline: Instant,
    exit: &ExitWatch,
    stderr: &Mutex<VecDeque<String>>,
) -> Result<UnixStream, QemuError> {
    let after = deadline.saturating_duration_since(Instant::now());
    tokio::select! {
        accepted = tokio::time::timeout_at(deadline, listener.accept()) => match accepted {
            Ok(Ok((stream, _))) => Ok(stream),
            Ok(Err(source)) => Err(QemuError::Setup {
                what: format!("qemu's {what} connection"),
                source,
            }),
            Err(_) => Err(QemuError::Timeout {
                what: format!("qemu (connecting its {what} socket)"),
                after,
            }),
        },
        Some(exit) = exit.wait(after) => Err(QemuError::Startup {
            exit,
            stderr: lock(stderr).iter().cloned().collect::<Vec<_>>().join(" | "),
        }),
    }
}

/// Keeps the last lines of QEMU's stderr until it closes.
async fn keep_tail(pipe: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut tail = lock(&tail);
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// Waits for QEMU to end (killing it when asked, or when the machine is dropped), then publishes
/// how it ended, once its last words on stderr are read.
async fn wait_for_exit(
    mut child: Child,
    kill: oneshot::Receiver<()>,
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    exit: watch::Sender<Option<MachineExit>>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = kill => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    if let Some(task) = stderr_task {
        // Bounded: a child QEMU left behind could hold the pipe open.
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let classified = match status {
        Ok(status) => {
            let tail = lock(&stderr);
            MachineExit::from_status(status, tail.iter().map(String::as_str))
        }
        // Waiting failed (it practically never does): QEMU's fate is unknown, not the device's.
        Err(_) => MachineExit::Code(-1),
    };
    let _ = exit.send(Some(classified));
}
