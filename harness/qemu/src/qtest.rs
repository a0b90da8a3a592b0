//! A qtest client: QEMU's line protocol for device tests, used here to drive GPIO inputs and
//! observe GPIO outputs of the emulated board.
//!
//! qtest is QEMU's internal test interface, not a stable API, so this client is pinned to what
//! Debian's QEMU 7.2 (7.2.22) does, all of it checked by this crate's tests against that QEMU:
//! - QEMU connects to `-qtest unix:PATH` at startup; with `-accel tcg` the CPUs still run (without
//!   it qtest replaces the accelerator and the guest never executes);
//! - each command is one line with one answer line: `OK`, `OK <value>` (reads), or `FAIL <why>`;
//! - `irq_intercept_out PATH` reroutes the unnamed GPIO outputs of the device at QOM `PATH` to
//!   this connection, which then gets `IRQ raise N` / `IRQ lower N` lines, between answers,
//!   whenever output N changes level. QEMU allows one intercepted device per machine, and its
//!   record of every level starts low: intercept before the guest runs (`-S`, then `cont`);
//! - `set_irq_in PATH unnamed-gpio-in N LEVEL` sets input N of that device;
//! - `readl ADDR` / `writel ADDR VALUE` access guest physical memory, device registers included.
//!
//! A command whose caller gave up (timed out, dropped) still gets its answer from QEMU; the next
//! command reads and drops it first, so answers never shift onto the wrong command.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::error::{Channel, QemuError};
use crate::exit::ExitWatch;

/// Level changes kept for a watcher that falls behind.
const IRQ_BACKLOG: usize = 1024;

/// A change of level of an intercepted output line, as QEMU reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrqChange {
    /// The output line's number on the intercepted device.
    pub line: u32,
    /// Its new level.
    pub high: bool,
    /// When rigor received the report.
    pub at: Instant,
}

/// Levels of intercepted lines and the stream of their changes; the stream closes with the
/// connection.
struct Irqs {
    levels: BTreeMap<u32, bool>,
    changes: Option<broadcast::Sender<IrqChange>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Conn {
    writer: OwnedWriteHalf,
    replies: mpsc::UnboundedReceiver<String>,
    /// Answers still due to commands whose callers gave up.
    stale: usize,
}

/// A qtest connection.
pub struct Qtest {
    conn: tokio::sync::Mutex<Conn>,
    irqs: Arc<Mutex<Irqs>>,
    intercepted: Mutex<Option<String>>,
    exit: ExitWatch,
    timeout: Duration,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Qtest {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Qtest {
    /// A client on `stream`; `timeout` bounds every command.
    pub(crate) fn new(stream: UnixStream, exit: ExitWatch, timeout: Duration) -> Self {
        let (read, writer) = stream.into_split();
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let (changes, _) = broadcast::channel(IRQ_BACKLOG);
        let irqs = Arc::new(Mutex::new(Irqs {
            levels: BTreeMap::new(),
            changes: Some(changes),
        }));
        let reader = tokio::spawn(read_lines(BufReader::new(read), replies_tx, irqs.clone()));
        Qtest {
            conn: tokio::sync::Mutex::new(Conn {
                writer,
                replies,
                stale: 0,
            }),
            irqs,
            intercepted: Mutex::new(None),
            exit,
            timeout,
            reader,
        }
    }

    /// Sends one command line and returns what follows `OK` in the answer (empty for most).
    pub async fn command(&self, line: &str) -> Result<String, QemuError> {
        let timeout = |what: String| QemuError::Timeout {
            what,
            after: self.timeout,
        };
        let mut conn = self.conn.lock().await;
        while conn.stale > 0 {
            match tokio::time::timeout(self.timeout, conn.replies.recv()).await {
                Ok(Some(_)) => conn.stale -= 1,
                Ok(None) => return Err(self.closed().await),
                Err(_) => return Err(timeout("qtest (an earlier command's answer)".to_owned())),
            }
        }
        // Counted as due until read, so a caller that gives up leaves it for the next command.
        conn.stale += 1;
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        if let Err(source) = conn.writer.write_all(&bytes).await {
            return Err(match source.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    self.closed().await
                }
                _ => QemuError::Io {
                    channel: Channel::Qtest,
                    source,
                },
            });
        }
        let reply = match tokio::time::timeout(self.timeout, conn.replies.recv()).await {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(self.closed().await),
            Err(_) => return Err(timeout(format!("qtest command `{line}`"))),
        };
        conn.stale -= 1;
        match reply.strip_prefix("OK") {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => Ok(rest.trim().to_owned()),
            _ => Err(QemuError::Qtest {
                command: line.to_owned(),
                reply,
            }),
        }
    }

    async fn closed(&self) -> QemuError {
        self.exit.closed(Channel::Qtest).await
    }

    /// Reroutes the GPIO outputs of the device at QOM `path` to this connection, so their
    /// levels can be read ([`Qtest::irq_level`]) and watched ([`Qtest::watch_irq`]). Doing it
    /// again for the same device is harmless; QEMU refuses a second device.
    pub async fn irq_intercept_out(&self, path: &str) -> Result<(), QemuError> {
        self.command(&format!("irq_intercept_out {path}")).await?;
        *lock(&self.intercepted) = Some(path.to_owned());
        Ok(())
    }

    /// The device whose outputs are intercepted, if any.
    pub fn intercepted(&self) -> Option<String> {
        lock(&self.intercepted).clone()
    }

    /// Sets input `line` of the device at QOM `path` (its unnamed GPIO inputs, or the named list
    /// `name`).
    pub async fn set_irq_in(
        &self,
        path: &str,
        name: Option<&str>,
        line: u32,
        high: bool,
    ) -> Result<(), QemuError> {
        let name = name.unwrap_or("unnamed-gpio-in");
        self.command(&format!(
            "set_irq_in {path} {name} {line} {}",
            u8::from(high)
        ))
        .await
        .map(drop)
    }

    /// Reads a 32-bit word of guest physical memory (a device register, too).
    pub async fn readl(&self, address: u64) -> Result<u32, QemuError> {
        let command = format!("readl {address:#x}");
        let value = self.command(&command).await?;
        let parsed = value
            .strip_prefix("0x")
            .and_then(|hex| u32::from_str_radix(hex, 16).ok());
        parsed.ok_or_else(|| QemuError::Protocol {
            channel: Channel::Qtest,
            message: format!("`{command}` answered `OK {value}`"),
            source: None,
        })
    }

    /// Writes a 32-bit word of guest physical memory.
    pub async fn writel(&self, address: u64, value: u32) -> Result<(), QemuError> {
        self.command(&format!("writel {address:#x} {value:#x}"))
            .await
            .map(drop)
    }

    /// The level of intercepted output `line`: low until QEMU reports it raised.
    pub fn irq_level(&self, line: u32) -> bool {
        lock(&self.irqs).levels.get(&line).copied().unwrap_or(false)
    }

    /// The level of intercepted output `line` now, and every change of any intercepted line from
    /// now on (taken together, so none falls between). The stream ends when QEMU closes the
    /// connection; if it already has, this is the error that says why.
    pub async fn watch_irq(
        &self,
        line: u32,
    ) -> Result<(bool, broadcast::Receiver<IrqChange>), QemuError> {
        let watched = {
            let irqs = lock(&self.irqs);
            let level = irqs.levels.get(&line).copied().unwrap_or(false);
            irqs.changes.as_ref().map(|tx| (level, tx.subscribe()))
        };
        match watched {
            Some(watched) => Ok(watched),
            None => Err(self.closed().await),
        }
    }

    /// The error for a connection that ended while watching.
    pub(crate) async fn ended(&self) -> QemuError {
        self.closed().await
    }
}

/// Splits QEMU's lines into answers and interrupt reports until the connection ends.
async fn read_lines(
    mut read: BufReader<OwnedReadHalf>,
    replies: mpsc::UnboundedSender<String>,
    irqs: Arc<Mutex<Irqs>>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match read.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim_end();
        if let Some(report) = text.strip_prefix("IRQ ") {
            let mut words = report.split(' ');
            let high = match words.next() {
                Some("raise") => true,
                Some("lower") => false,
                _ => continue,
            };
            let Some(n) = words.next().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let mut irqs = lock(&irqs);
            irqs.levels.insert(n, high);
            if let Some(tx) = &irqs.changes {
                let _ = tx.send(IrqChange {
                    line: n,
                    high,
                    at: Instant::now(),
                });
            }
        } else if replies.send(text.to_owned()).is_err() {
            break;
        }
    }
    lock(&irqs).changes = None;
}

#[cfg(test)]
#[path = "qtest_tests.rs"]
mod tests;
