//! The direct path's pipe: with no rule acting, bytes move socket → pipe → socket with
//! splice(2) inside the kernel, never copied into the proxy and out again (two copies a byte
//! that held the proxy under half of loopback's throughput). Readiness comes from tokio's own
//! registration of the sockets; nix makes the calls.

use std::io;
use std::os::fd::OwnedFd;

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use tokio::io::Interest;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The pipe's capacity asked for: large moves, few calls. The kernel may give less.
const PIPE_SIZE: i32 = 1 << 20;

/// A pipe between one stream's two sockets.
pub(super) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes in the pipe, read from one socket and not yet written to the other.
    pub held: usize,
    /// What the pipe holds at most.
    pub capacity: usize,
}

impl Pipe {
    /// A non-blocking pipe, as large as the kernel grants up to [`PIPE_SIZE`].
    pub fn new() -> io::Result<Self> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let capacity = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE))
            .or_else(|_| fcntl(&write, FcntlArg::F_GETPIPE_SZ))?;
        Ok(Self {
            read,
            write,
            held: 0,
            capacity: usize::try_from(capacity).unwrap_or(64 * 1024),
        })
    }

    /// Moves what the socket has into the pipe, waiting for the socket to be readable.
    /// `Some(0)` is the end of the stream; `None` says the pipe took nothing though bytes may
    /// wait (a pipe counts buffers as well as bytes, so it can be full short of its capacity):
    /// drain it before filling again.
    pub async fn fill(&self, from: &OwnedReadHalf) -> io::Result<Option<usize>> {
        let socket = from.as_ref();
        let room = self.capacity - self.held;
        loop {
            socket.readable().await?;
            let moved = socket.try_io(Interest::READABLE, || {
                match splice(socket, None, &self.write, None, room, flags()) {
                    Ok(n) => Ok(Some(n)),
                    // Only with the pipe empty is "would block" surely the socket's, and only
                    // then may tokio forget the socket's readiness (else no wake-up comes).
                    Err(nix::Error::EAGAIN) if self.held > 0 => Ok(None),
                    Err(e) => Err(io::Error::from(e)),
                }
            });
            match moved {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Moves bytes from the pipe to the socket, waiting for the socket to be writable; returns
    /// how many.
    pub async fn drain(&self, to: &OwnedWriteHalf) -> io::Result<usize> {
        let socket = to.as_ref();
        loop {
            socket.writable().await?;
            // The pipe holds bytes, so "would block" is the socket's.
            let moved = socket.try_io(Interest::WRITABLE, || {
                splice(&self.read, None, socket, None, self.held, flags()).map_err(io::Error::from)
            });
            match moved {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}
