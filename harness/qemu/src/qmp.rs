//! A QMP (QEMU Machine Protocol) client: JSON lines over a unix socket.
//!
//! Written by hand rather than with the `qapi` crate: rigor needs half a dozen commands, while
//! `qapi-qmp` generates ~700 KB of types from QEMU 9.1's schema (about a minute of build on a
//! two-core machine), and a message of Debian's QEMU 7.2 that does not fit that newer schema
//! would fail its whole stream. Here every message is a `serde_json::Value`, and only the few
//! answers rigor reads are typed.
//!
//! Commands carry an `id`, so replies find their caller however events interleave with them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, oneshot};

use crate::error::{Channel, QemuError};
use crate::exit::ExitWatch;

/// Events kept for a subscriber that falls behind.
const EVENT_BACKLOG: usize = 256;

/// QEMU's version, from the QMP greeting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QemuVersion {
    /// Major, minor and micro version numbers (7, 2, 22).
    pub qemu: VersionTriple,
    /// The distribution's package version (`Debian 1:7.2+dfsg-7+deb12u18`).
    pub package: String,
}

/// A `major.minor.micro` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct VersionTriple {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro version.
    pub micro: u32,
}

/// An asynchronous event QEMU sent (`RESET`, `STOP`, `SHUTDOWN`).
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    /// The event's name.
    pub name: String,
    /// Its data (`{"guest": false, "reason": "host-qmp-system-reset"}`), `null` if none.
    pub data: Value,
}

/// A character device, as `query-chardev` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChardevInfo {
    /// Its label (`serial0` is the board's first UART).
    pub label: String,
    /// Its backend (`pty:/dev/pts/3`, `unix:/tmp/...`).
    pub filename: String,
    /// Whether a device has it open.
    #[serde(rename = "frontend-open")]
    pub frontend_open: bool,
}

/// A property of a QOM object, as `qom-list` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QomProperty {
    /// The property's name (`device[8]`, `temperature`).
    pub name: String,
    /// Its type (`child<pl061_luminary>`, `int`).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The VM's run state, as `query-status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunState {
    /// `prelaunch` (started with `-S`), `running`, `paused`, `shutdown`...
    pub status: String,
    /// Whether the CPUs run.
    pub running: bool,
}

/// A QEMU error reply: its class and description.
type ErrorReply = (String, String);
type Reply = Result<Value, ErrorReply>;

#[derive(Default)]
struct Pending {
    waiting: BTreeMap<u64, oneshot::Sender<Reply>>,
    closed: bool,
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A QMP connection in command mode (capabilities negotiated).
pub struct Qmp {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Arc<Mutex<Pending>>,
    events: broadcast::Sender<QmpEvent>,
    next_id: AtomicU64,
    version: QemuVersion,
    exit: ExitWatch,
    timeout: Duration,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Qmp {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Qmp {
    /// Reads QEMU's greeting on `stream` and negotiates capabilities, each within `timeout`,
    /// which also bounds every later command.
    pub(crate) async fn handshake(
        stream: UnixStream,
        exit: ExitWatch,
        timeout: Duration,
    ) -> Result<Self, QemuError> {
        let (read, writer) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut line = String::new();
        let greeting = tokio::time::timeout(timeout, read.read_line(&mut line))
            .await
            .map_err(|_| QemuError::Timeout {
                what: "qmp greeting".to_owned(),
                after: timeout,
            })?
            .map_err(|source| QemuError::Io {
                channel: Channel::Qmp,
                source,
            })?;
        if greeting == 0 {
            return Err(exit.closed(Channel::Qmp).await);
        }
        let version = parse_greeting(&line)?;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let reader = tokio::spawn(read_messages(read, pending.clone(), events.clone()));
        let qmp = Qmp {
            writer: tokio::sync::Mutex::new(writer),
            pending,
            events,
            next_id: AtomicU64::new(1),
            version,
            exit,
            timeout,
            reader,
        };
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Connects to a QMP server socket (`-qmp unix:PATH,server=on,wait=off`) of a QEMU rigor did
    /// not start; its exit cannot be told apart from a closed socket.
    pub async fn connect(path: impl Into<PathBuf>, timeout: Duration) -> Result<Self, QemuError> {
        let path = path.into();
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|source| QemuError::Io {
                channel: Channel::Qmp,
                source,
            })?;
        Self::handshake(stream, ExitWatch::detached(), timeout).await
    }

    /// The QEMU on the other end.
    pub fn version(&self) -> &QemuVersion {
        &self.version
    }

    /// Events from now on. A subscriber more than a few hundred events behind loses the oldest.
    pub fn events(&self) -> broadcast::Receiver<QmpEvent> {
        self.events.subscribe()
    }

    /// Runs `command` with `arguments` and returns its `return` value.
    pub async fn execute(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QemuError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let closed = {
            let mut pending = lock(&self.pending);
            if !pending.closed {
                pending.waiting.insert(id, tx);
            }
            pending.closed
        };
        if closed {
            return Err(self.exit.closed(Channel::Qmp).await);
        }
        let mut message = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            message["arguments"] = arguments;
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(b'\n');
        let written = self.writer.lock().await.write_all(&bytes).await;
        if let Err(source) = written {
            lock(&self.pending).waiting.remove(&id);
            return Err(match source.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    self.exit.closed(Channel::Qmp).await
                }
                _ => QemuError::Io {
                    channel: Channel::Qmp,
                    source,
                },
            });
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Err(_) => {
                lock(&self.pending).waiting.remove(&id);
                Err(QemuError::Timeout {
                    what: format!("qmp command `{command}`"),
                    after: self.timeout,
                })
            }
            Ok(Err(_)) => Err(self.exit.closed(Channel::Qmp).await),
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err((class, desc)))) => Err(QemuError::Command {
                command: command.to_owned(),
                class,
                desc,
            }),
        }
    }

    async fn execute_as<T: serde::de::DeserializeOwned>(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<T, QemuError> {
        let value = self.execute(command, arguments).await?;
        serde_json::from_value(value.clone()).map_err(|source| QemuError::Protocol {
            channel: Channel::Qmp,
            message: format!("`{command}` returned {value}"),
            source: Some(source),
        })
    }

    /// Starts or resumes the CPUs (`cont`).
    pub async fn cont(&self) -> Result<(), QemuError> {
        self.execute("cont", None).await.map(drop)
    }

    /// Pauses the CPUs (`stop`).
    pub async fn stop(&self) -> Result<(), QemuError> {
        self.execute("stop", None).await.map(drop)
    }

    /// Resets the machine as its reset button would (`system_reset`).
    pub async fn system_reset(&self) -> Result<(), QemuError> {
        self.execute("system_reset", None).await.map(drop)
    }

    /// Asks QEMU to exit (`quit`). QEMU may close the connection before its reply arrives, so a
    /// connection closed by a normal exit counts as done.
    pub async fn quit(&self) -> Result<(), QemuError> {
        match self.execute("quit", None).await {
            Ok(_) | Err(QemuError::Closed { .. } | QemuError::Exited { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The VM's run state (`query-status`).
    pub async fn query_status(&self) -> Result<RunState, QemuError> {
        self.execute_as("query-status", None).await
    }

    /// The character devices (`query-chardev`).
    pub async fn query_chardev(&self) -> Result<Vec<ChardevInfo>, QemuError> {
        self.execute_as("query-chardev", None).await
    }

    /// The pseudo-terminal behind the chardev labelled `label` (`serial0` for `-serial pty`).
    pub async fn pty_of(&self, label: &str) -> Result<PathBuf, QemuError> {
        let devices = self.query_chardev().await?;
        let found = devices.iter().find(|d| d.label == label);
        match found.and_then(|d| d.filename.strip_prefix("pty:")) {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(QemuError::NotFound {
                what: format!("a pty chardev labelled `{label}`"),
                detail: format!(
                    "chardevs are {}",
                    devices
                        .iter()
                        .map(|d| format!("{} ({})", d.label, d.filename))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// The properties and children of the QOM object at `path` (`qom-list`).
    pub async fn qom_list(&self, path: &str) -> Result<Vec<QomProperty>, QemuError> {
        self.execute_as("qom-list", Some(json!({ "path": path })))
            .await
    }

    /// A property of the QOM object at `path` (`qom-get`).
    pub async fn qom_get(&self, path: &str, property: &str) -> Result<Value, QemuError> {
        self.execute(
            "qom-get",
            Some(json!({ "path": path, "property": property })),
        )
        .await
    }

    /// Sets a property of the QOM object at `path` (`qom-set`).
    pub async fn qom_set(&self, path: &str, property: &str, value: Value) -> Result<(), QemuError> {
        self.execute(
            "qom-set",
            Some(json!({ "path": path, "property": property, "value": value })),
        )
        .await
        .map(drop)
    }
}

fn parse_greeting(line: &str) -> Result<QemuVersion, QemuError> {
    #[derive(Deserialize)]
    struct Greeting {
        #[serde(rename = "QMP")]
        qmp: GreetingBody,
    }
    #[derive(Deserialize)]
    struct GreetingBody {
        version: QemuVersion,
    }
    serde_json::from_str::<Greeting>(line)
        .map(|g| g.qmp.version)
        .map_err(|source| QemuError::Protocol {
            channel: Channel::Qmp,
            message: format!("expected the greeting, got {}", line.trim()),
            source: Some(source),
        })
}

/// Routes replies to their callers and events to subscribers until the connection ends, then
/// fails every caller still waiting.
async fn read_messages(
    mut read: BufReader<OwnedReadHalf>,
    pending: Arc<Mutex<Pending>>,
    events: broadcast::Sender<QmpEvent>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match read.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            // Not JSON: nothing can be routed; QEMU never sends such lines.
            continue;
        };
        if let Some(name) = message.get("event").and_then(Value::as_str) {
            let data = message.get("data").cloned().unwrap_or(Value::Null);
            let _ = events.send(QmpEvent {
                name: name.to_owned(),
                data,
            });
            continue;
        }
        let reply = match (message.get("return"), message.get("error")) {
            (Some(value), _) => Ok(value.clone()),
            (None, Some(error)) => {
                let field = |name: &str| {
                    error
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                Err((field("class"), field("desc")))
            }
            (None, None) => continue,
        };
        let mut pending = lock(&pending);
        // QEMU echoes the id; an error without one (a line it could not parse) is the oldest
        // command's.
        let id = match message.get("id").and_then(Value::as_u64) {
            Some(id) => Some(id),
            None => pending.waiting.keys().next().copied(),
        };
        if let Some(caller) = id.and_then(|id| pending.waiting.remove(&id)) {
            let _ = caller.send(reply);
        }
    }
    let mut pending = lock(&pending);
    pending.closed = true;
    pending.waiting.clear();
}

#[cfg(test)]
#[path = "qmp_tests.rs"]
mod tests;
