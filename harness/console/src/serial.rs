//! The console over a serial port (a USB adapter, a probe's UART, a pseudo-terminal of the
//! virtual bench or of QEMU), through the `serialport` crate.
//!
//! A dedicated thread reads the port (with a short poll timeout, so it notices when to stop) and
//! feeds a channel. The async side only ever awaits that channel, which is cancel-safe: an expect
//! whose deadline cancels a read loses no bytes, and no async worker blocks on the port. Writes
//! and baud changes run on Tokio's blocking pool for the same reason: a UART with flow control
//! held off, or a slow baud rate, can take a while to accept bytes.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rigor_hal::{ConsolePort, HalError, async_trait};
use serialport::{SerialPort, TTYPort};
use tokio::sync::mpsc;

use crate::port_id::PortSelector;

/// How long the reader waits on the port before it looks whether it should stop: the longest a
/// close waits for the reader to let go of the port.
const POLL: Duration = Duration::from_millis(50);
const READ_BUF: usize = 16 * 1024;

/// A console on a serial port, opened exclusively.
pub struct SerialConsole {
    selector: PortSelector,
    baud: u32,
    open: Option<Open>,
    pending: Vec<u8>,
    taken: usize,
    /// A failure that came after data, reported once the data is read.
    failed: Option<io::Error>,
}

struct Open {
    path: PathBuf,
    writer: Arc<Mutex<TTYPort>>,
    chunks: mpsc::UnboundedReceiver<io::Result<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The reader holds a duplicate of the port and with it the exclusive lock: wait (one poll
        // at most) until it lets go, so the port is free for the next opener when this returns.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn lock(port: &Mutex<TTYPort>) -> MutexGuard<'_, TTYPort> {
    port.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SerialConsole {
    /// Opens the port `selector` names, at `baud`, 8N1 without flow control.
    pub fn open(selector: PortSelector, baud: u32) -> Result<Self, HalError> {
        let mut console = SerialConsole {
            selector,
            baud,
            open: None,
            pending: Vec::new(),
            taken: 0,
            failed: None,
        };
        console.connect()?;
        Ok(console)
    }

    /// What the console was asked to open.
    pub fn selector(&self) -> &PortSelector {
        &self.selector
    }

    /// The device path open now, if the port is open.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.open.as_ref().map(|o| o.path.as_path())
    }

    fn connect(&mut self) -> Result<(), HalError> {
        let path = self.selector.resolve()?;
        let name = path.to_string_lossy().into_owned();
        let port = serialport::new(name.as_str(), self.baud)
            .timeout(POLL)
            .open_native()
            .map_err(|e| match e.kind {
                serialport::ErrorKind::NoDevice => HalError::Disconnected {
                    what: self.selector.to_string(),
                    source: Some(e.into()),
                },
                _ => HalError::Io {
                    what: format!("opening {name}"),
                    source: e.into(),
                },
            })?;
        let io_error = |what: &str, source: io::Error| HalError::Io {
            what: format!("{what} {name}"),
            source,
        };
        let reader = port
            .try_clone_native()
            .map_err(|e| io_error("duplicating", e.into()))?;
        let (tx, chunks) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = std::thread::Builder::new()
            .name(format!("rigor serial {name}"))
            .spawn({
                let stop = stop.clone();
                move || read_until_stopped(reader, &tx, &stop)
            })
            .map_err(|e| io_error("starting the reader of", e))?;
        self.open = Some(Open {
            path,
            writer: Arc::new(Mutex::new(port)),
            chunks,
            stop,
            reader: Some(reader),
        });
        Ok(())
    }

    fn gone(&self, source: Option<io::Error>) -> HalError {
        HalError::Disconnected {
            what: self.describe(),
            source,
        }
    }

    /// Takes from `pending` into `buf`.
    fn take_pending(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.pending.len() - self.taken);
        buf[..n].copy_from_slice(&self.pending[self.taken..self.taken + n]);
        self.taken += n;
        n
    }
}

/// The reader thread: everything read goes to the channel, then the first hard error.
fn read_until_stopped(
    mut port: TTYPort,
    tx: &mpsc::UnboundedSender<io::Result<Vec<u8>>>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; READ_BUF];
    while !stop.load(Ordering::Relaxed) {
        let sent = match port.read(&mut buf) {
            // The port said it was readable and had nothing: the far end hung up.
            Ok(0) => {
                let _ = tx.send(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the port hung up",
                )));
                return;
            }
            Ok(n) => tx.send(Ok(buf[..n].to_vec())),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                ) =>
            {
                continue;
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Writes everything, waiting as long as the bytes need on the wire plus a second.
fn write_blocking(port: &Mutex<TTYPort>, bytes: &[u8], budget: Duration) -> io::Result<()> {
    let deadline = Instant::now() + budget;
    let mut port = lock(port);
    let mut rest = bytes;
    while !rest.is_empty() {
        match port.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut && Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_budget(len: usize, baud: u32) -> Duration {
    // Ten bits a byte on the wire (start, eight data, stop).
    let wire = Duration::from_secs_f64(len as f64 * 10.0 / f64::from(baud.max(1)));
    wire + Duration::from_secs(1)
}

#[async_trait]
impl ConsolePort for SerialConsole {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError> {
        if self.taken == self.pending.len() {
            if let Some(e) = self.failed.take() {
                self.open = None;
                return Err(self.gone(Some(e)));
            }
            let Some(open) = self.open.as_mut() else {
                return Err(self.gone(None));
            };
            // The only await: `recv` is cancel-safe, and nothing is taken before it completes.
            match open.chunks.recv().await {
                Some(Ok(chunk)) => (self.pending, self.taken) = (chunk, 0),
                Some(Err(e)) => {
                    self.open = None;
                    return Err(self.gone(Some(e)));
                }
                None => {
                    self.open = None;
                    return Err(self.gone(None));
                }
            }
        }
        let mut n = self.take_pending(buf);
        // Add what else has arrived, without waiting: fewer, larger reads in a burst.
        while n < buf.len() {
            let Some(open) = self.open.as_mut() else {
                break;
            };
            match open.chunks.try_recv() {
                Ok(Ok(chunk)) => {
                    (self.pending, self.taken) = (chunk, 0);
                    n += self.take_pending(&mut buf[n..]);
                }
                Ok(Err(e)) => {
                    self.failed = Some(e);
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(n)
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError> {
        let Some(open) = self.open.as_ref() else {
            return Err(self.gone(None));
        };
        let (writer, owned) = (open.writer.clone(), bytes.to_vec());
        let budget = write_budget(bytes.len(), self.baud);
        let job = tokio::task::spawn_blocking(move || write_blocking(&writer, &owned, budget));
        let timeout = || HalError::Timeout {
            what: format!("writing {} bytes to {}", bytes.len(), self.describe()),
            after: budget,
        };
        // The job gives up at its budget; this bounds a write stuck in the kernel as well.
        match tokio::time::timeout(budget + POLL, job).await {
            Err(_) => Err(timeout()),
            Ok(Err(join)) => Err(HalError::Io {
                what: format!("writing to {}", self.describe()),
                source: io::Error::other(join),
            }),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) if e.kind() == io::ErrorKind::TimedOut => Err(timeout()),
            Ok(Ok(Err(e))) => {
                let err = self.gone(Some(e));
                self.open = None;
                Err(err)
            }
        }
    }

    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError> {
        // Kept even if the port is gone now: the reopen uses it.
        self.baud = baud;
        let Some(open) = self.open.as_ref() else {
            return Err(self.gone(None));
        };
        let writer = open.writer.clone();
        let job = tokio::task::spawn_blocking(move || lock(&writer).set_baud_rate(baud));
        let io_error = |source: io::Error| HalError::Io {
            what: format!("setting {} to {baud} baud", self.describe()),
            source,
        };
        match job.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_error(e.into())),
            Err(join) => Err(io_error(io::Error::other(join))),
        }
    }

    async fn reopen(&mut self) -> Result<(), HalError> {
        if let Some(old) = self.open.take() {
            // Closing joins the reader thread: off the async workers.
            let _ = tokio::task::spawn_blocking(move || drop(old)).await;
        }
        (self.pending, self.taken, self.failed) = (Vec::new(), 0, None);
        self.connect()
    }

    fn describe(&self) -> String {
        match (&self.selector, &self.open) {
            (PortSelector::Usb(id), Some(open)) => format!("{id} at {}", open.path.display()),
            (selector, _) => selector.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_get_the_time_their_bytes_need_on_the_wire() {
        assert_eq!(write_budget(0, 115_200), Duration::from_secs(1));
        assert_eq!(write_budget(960, 9600), Duration::from_secs(2));
    }

    #[test]
    fn a_path_that_is_no_port_fails_as_the_rigs_problem() {
        let err = SerialConsole::open(PortSelector::path("/nonexistent/ttyUSB9"), 115_200)
            .err()
            .expect("no such port");
        assert!(err.is_infrastructure(), "{err}");
    }
}
