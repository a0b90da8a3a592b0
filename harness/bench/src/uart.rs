//! A unit's console cable: a pseudo-terminal pair behind a stable name, as udev gives a USB serial
//! adapter a `/dev/serial/by-id/` link. Unplugging it closes the pair and removes the link;
//! plugging it in makes a new pair (another `/dev/pts/N`, as a re-enumerated adapter gets another
//! `/dev/ttyUSBn`) and points the link at it.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

/// The device end of a plugged-in console cable.
pub(crate) struct Uart {
    link: PathBuf,
    master: TTYPort,
    // Held open so the pty lives on between two runs that open and close the other end.
    _slave: TTYPort,
}

impl Uart {
    /// Makes a new pty pair and points `link` at its slave end.
    pub(crate) fn plug_in(link: &Path) -> io::Result<Uart> {
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::other)?;
        master
            .set_timeout(Duration::from_millis(10))
            .map_err(io::Error::other)?;
        let name = slave
            .name()
            .ok_or_else(|| io::Error::other("a pseudo-terminal without a name"))?;
        // Replaced in one rename, so an opener never sees the link missing or half made.
        let fresh = link.with_extension("new");
        let _ = std::fs::remove_file(&fresh);
        std::os::unix::fs::symlink(&name, &fresh)?;
        std::fs::rename(&fresh, link)?;
        Ok(Uart {
            link: link.to_owned(),
            master,
            _slave: slave,
        })
    }

    /// The stable name.
    pub(crate) fn link(&self) -> &Path {
        &self.link
    }

    /// Pulls the cable: the pty pair closes (the other end reads a hang-up) and the link goes.
    pub(crate) fn unplug(self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

impl Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.master.read(buf)
    }
}

impl Write for Uart {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.master.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.master.flush()
    }
}
