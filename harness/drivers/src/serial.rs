//! The console over a serial port (a USB adapter, a probe's UART, a pseudo-terminal of the
//! virtual bench or of QEMU), through the `serialport` crate.
//!
//! A thread reads the port with a short timeout and feeds a channel, so the async side never
//! blocks and a read cancelled by a timeout loses no bytes. A port is named by path or by stable
//! USB identity (`VID:PID:SERIAL`); `reopen` resolves the identity again, because a power-cycled
//! adapter re-enumerates as another `/dev/ttyUSBn`.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rigor_hal::{ConsolePort, HalError, async_trait};
use serialport::SerialPort;
use tokio::sync::mpsc;

/// Which port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortName {
    /// A device path (`/dev/serial/by-id/...`, `/dev/pts/7`).
    Path(String),
    /// A USB serial adapter by vendor id, product id and serial number.
    Usb {
        /// Vendor id.
        vid: u16,
        /// Product id.
        pid: u16,
        /// Serial number, if the adapter has one.
        serial: Option<String>,
    },
}

impl PortName {
    /// Parses `VID:PID[:SERIAL]` (hex ids).
    pub fn usb(id: &str) -> Option<PortName> {
        let mut parts = id.splitn(3, ':');
        let vid = u16::from_str_radix(parts.next()?, 16).ok()?;
        let pid = u16::from_str_radix(parts.next()?, 16).ok()?;
        Some(PortName::Usb {
            vid,
            pid,
            serial: parts.next().map(str::to_owned),
        })
    }

    fn resolve(&self) -> Result<String, HalError> {
        match self {
            PortName::Path(p) => Ok(p.clone()),
            PortName::Usb { vid, pid, serial } => {
                let ports = serialport::available_ports().map_err(|e| HalError::Io {
                    what: "listing serial ports".into(),
                    source: std::io::Error::other(e),
                })?;
                ports
                    .into_iter()
                    .find(|p| match &p.port_type {
                        serialport::SerialPortType::UsbPort(u) => {
                            u.vid == *vid
                                && u.pid == *pid
                                && (serial.is_none() || u.serial_number == *serial)
                        }
                        _ => false,
                    })
                    .map(|p| p.port_name)
                    .ok_or_else(|| HalError::Disconnected {
                        what: self.to_string(),
                        source: None,
                    })
            }
        }
    }
}

impl std::fmt::Display for PortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortName::Path(p) => f.write_str(p),
            PortName::Usb { vid, pid, serial } => {
                write!(f, "USB {vid:04x}:{pid:04x}")?;
                if let Some(s) = serial {
                    write!(f, ":{s}")?;
                }
                Ok(())
            }
        }
    }
}

struct Open {
    port: serialport::TTYPort,
    chunks: mpsc::UnboundedReceiver<Result<Vec<u8>, std::io::Error>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // serialport opens ttys exclusively (TIOCEXCL); the flag outlives this close while anyone
        // else holds the tty (a pty's other end, a reader thread), and would lock out the next run.
        let _ = self.port.set_exclusive(false);
        // The reader holds a duplicate of the port, and with it the port's exclusive lock: wait
        // (at most one read timeout) for it to let go, so the port is free once this returns.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A console on a serial port.
pub struct SerialConsole {
    name: PortName,
    baud: u32,
    open: Option<Open>,
    pending: Vec<u8>,
}

impl SerialConsole {
    /// Opens `name` at `baud`.
    pub fn open(name: PortName, baud: u32) -> Result<Self, HalError> {
        let mut console = SerialConsole {
            name,
            baud,
            open: None,
            pending: Vec::new(),
        };
        console.connect()?;
        Ok(console)
    }

    fn connect(&mut self) -> Result<(), HalError> {
        self.open = None;
        let path = self.name.resolve()?;
        let gone = |e: serialport::Error| HalError::Disconnected {
            what: self.name.to_string(),
            source: Some(e.into()),
        };
        let port = serialport::new(&path, self.baud)
            .timeout(Duration::from_millis(50))
            .open_native()
            .map_err(gone)?;
        let mut reader = port.try_clone_native().map_err(gone)?;
        let (tx, chunks) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let reader = std::thread::Builder::new()
            .name(format!("rigor serial {path}"))
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while !stopped.load(Ordering::Relaxed) {
                    match reader.read(&mut buf) {
                        Ok(0) => {}
                        Ok(n) => {
                            if tx.send(Ok(buf[..n].to_vec())).is_err() {
                                return;
                            }
                        }
                        Err(e)
                            if e.kind() == std::io::ErrorKind::TimedOut
                                || e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| HalError::Io {
                what: format!("starting the reader of {path}"),
                source: e,
            })?;
        self.open = Some(Open {
            port,
            chunks,
            stop,
            reader: Some(reader),
        });
        Ok(())
    }

    fn gone(&self, source: Option<std::io::Error>) -> HalError {
        HalError::Disconnected {
            what: self.name.to_string(),
            source,
        }
    }
}

#[async_trait]
impl ConsolePort for SerialConsole {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError> {
        if self.pending.is_empty() {
            let Some(open) = self.open.as_mut() else {
                return Err(self.gone(None));
            };
            match open.chunks.recv().await {
                Some(Ok(chunk)) => self.pending = chunk,
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
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError> {
        let Some(open) = self.open.as_mut() else {
            return Err(self.gone(None));
        };
        // Console commands are a few bytes: the kernel's buffer takes them without blocking.
        let result = open.port.write_all(bytes).and_then(|()| open.port.flush());
        result.map_err(|e| {
            self.open = None;
            self.gone(Some(e))
        })
    }

    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError> {
        self.baud = baud;
        let Some(open) = self.open.as_mut() else {
            return Err(self.gone(None));
        };
        open.port.set_baud_rate(baud).map_err(|e| HalError::Io {
            what: self.name.to_string(),
            source: e.into(),
        })
    }

    async fn reopen(&mut self) -> Result<(), HalError> {
        self.pending.clear();
        self.connect()
    }

    fn describe(&self) -> String {
        self.name.to_string()
    }
}
