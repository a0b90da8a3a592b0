//! A console pair: the port rigor holds, and the device end a test plays.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::lock;
use crate::error::HalError;
use crate::seam::ConsolePort;

/// The host side of a fake console.
#[derive(Debug)]
pub struct FakeConsole {
    from_device: mpsc::UnboundedReceiver<Vec<u8>>,
    to_device: mpsc::UnboundedSender<Vec<u8>>,
    pending: Vec<u8>,
    state: Arc<Mutex<ConsoleState>>,
}

#[derive(Debug)]
struct ConsoleState {
    /// The open port is dead: reads and writes fail until a reopen.
    vanished: bool,
    /// The port exists to be reopened (false while "unplugged").
    present: bool,
    baud: u32,
    reopens: u32,
}

/// The device side of a fake console: what a test plays.
#[derive(Debug, Clone)]
pub struct ConsoleDevice {
    to_host: mpsc::UnboundedSender<Vec<u8>>,
    from_host: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>>,
    state: Arc<Mutex<ConsoleState>>,
}

impl FakeConsole {
    /// A console and the device end that plays it.
    pub fn pair() -> (FakeConsole, ConsoleDevice) {
        let (to_host, from_device) = mpsc::unbounded_channel();
        let (to_device, from_host) = mpsc::unbounded_channel();
        let state = Arc::new(Mutex::new(ConsoleState {
            vanished: false,
            present: true,
            baud: 115_200,
            reopens: 0,
        }));
        (
            FakeConsole {
                from_device,
                to_device,
                pending: Vec::new(),
                state: state.clone(),
            },
            ConsoleDevice {
                to_host,
                from_host: Arc::new(tokio::sync::Mutex::new(from_host)),
                state,
            },
        )
    }

    fn gone(&self) -> HalError {
        HalError::Disconnected {
            what: self.describe(),
            source: None,
        }
    }
}

impl ConsoleDevice {
    /// The device sends bytes.
    pub fn send(&self, bytes: impl AsRef<[u8]>) {
        let _ = self.to_host.send(bytes.as_ref().to_vec());
    }
    /// Waits for the next chunk the host wrote; `None` once the host is gone.
    pub async fn received(&self) -> Option<Vec<u8>> {
        self.from_host.lock().await.recv().await
    }
    /// Everything the host wrote that has not been taken yet, without waiting.
    pub fn take_written(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Ok(mut rx) = self.from_host.try_lock() {
            while let Ok(chunk) = rx.try_recv() {
                out.extend(chunk);
            }
        }
        out
    }
    /// The port vanishes (USB re-enumeration) and is back as soon as the host reopens it.
    pub fn vanish(&self) {
        lock(&self.state).vanished = true;
    }
    /// The port vanishes and stays away: reopening fails until [`ConsoleDevice::plug_in`].
    pub fn unplug(&self) {
        let mut s = lock(&self.state);
        s.vanished = true;
        s.present = false;
    }
    /// The port is back, for the host to reopen.
    pub fn plug_in(&self) {
        lock(&self.state).present = true;
    }
    /// The baud rate the host set last.
    pub fn baud(&self) -> u32 {
        lock(&self.state).baud
    }
    /// How often the host reopened the port successfully.
    pub fn reopens(&self) -> u32 {
        lock(&self.state).reopens
    }
}

#[async_trait]
impl ConsolePort for FakeConsole {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError> {
        if lock(&self.state).vanished {
            return Err(self.gone());
        }
        if self.pending.is_empty() {
            // `recv` is cancel-safe, and a chunk is kept in `pending` before any await, so a read
            // dropped by a deadline loses nothing.
            match self.from_device.recv().await {
                Some(chunk) => self.pending = chunk,
                None => return Err(self.gone()),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError> {
        if lock(&self.state).vanished {
            return Err(self.gone());
        }
        self.to_device.send(bytes.to_vec()).map_err(|_| self.gone())
    }

    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError> {
        lock(&self.state).baud = baud;
        Ok(())
    }

    async fn reopen(&mut self) -> Result<(), HalError> {
        let mut s = lock(&self.state);
        if !s.present {
            drop(s);
            return Err(self.gone());
        }
        s.vanished = false;
        s.reopens += 1;
        Ok(())
    }

    fn describe(&self) -> String {
        "fake console".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn carries_bytes_both_ways_and_vanishes() {
        let (mut port, device) = FakeConsole::pair();
        device.send(b"boot ok\r\n");
        let mut buf = [0u8; 4];
        assert_eq!(port.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"boot");
        port.write_all(b"version\r\n").await.unwrap();
        assert_eq!(device.received().await.unwrap(), b"version\r\n");
        device.vanish();
        assert!(matches!(
            port.read(&mut buf).await,
            Err(HalError::Disconnected { .. })
        ));
        port.reopen().await.unwrap();
        assert_eq!(device.reopens(), 1);
        assert_eq!(port.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b" ok\r");
    }

    #[tokio::test]
    async fn an_unplugged_port_cannot_be_reopened_until_plugged_in() {
        let (mut port, device) = FakeConsole::pair();
        device.unplug();
        assert!(port.write_all(b"x").await.is_err());
        let err = port.reopen().await.unwrap_err();
        assert_eq!(err.to_string(), "fake console is gone");
        device.plug_in();
        port.reopen().await.unwrap();
        port.write_all(b"hello").await.unwrap();
        port.set_baud(9600).await.unwrap();
        assert_eq!(device.take_written(), b"hello");
        assert_eq!((device.reopens(), device.baud()), (1, 9600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_cancelled_by_a_deadline_loses_nothing() {
        let (mut port, device) = FakeConsole::pair();
        let mut buf = [0u8; 16];
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(1), port.read(&mut buf)).await;
        assert!(waited.is_err());
        device.send(b"late");
        assert_eq!(port.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"late");
    }
}
