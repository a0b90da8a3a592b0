//! A client of a GDB remote stub: the requests flashing needs, each with a timeout.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::GdbError;
use crate::packet::{self, frame};

/// A packet size to assume when the stub does not say: GDB's own default.
const DEFAULT_PACKET_SIZE: usize = 400;
/// How often a packet the stub rejected (`-`) is sent again.
const RETRANSMITS: u32 = 3;

/// A session with a stub.
pub struct GdbRemote<S> {
    stream: S,
    /// Bytes read and not yet parsed.
    inbox: Vec<u8>,
    timeout: Duration,
    /// Whether acknowledgements are off (`QStartNoAckMode`).
    no_ack: bool,
    /// The largest packet the stub takes, `$`, `#` and checksum included.
    packet_size: usize,
    /// Whether the stub takes binary `X` writes.
    binary_writes: Option<bool>,
    /// The largest packet sent so far, for tests that check `PacketSize` is honoured.
    largest_sent: usize,
    peer: String,
}

impl GdbRemote<TcpStream> {
    /// Connects to a stub on TCP (`host:port`) and negotiates the session.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, GdbError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| GdbError::Timeout {
                what: format!("connecting to {address}"),
                after: timeout,
            })?
            .map_err(|source| GdbError::Connect {
                address: address.to_owned(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        GdbRemote::start(stream, address, timeout).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> GdbRemote<S> {
    /// Starts a session on a connected stream (TCP, or a probe's serial port): `qSupported`, then
    /// no-ack mode where offered.
    pub async fn start(stream: S, peer: &str, timeout: Duration) -> Result<Self, GdbError> {
        let mut gdb = GdbRemote {
            stream,
            inbox: Vec::new(),
            timeout,
            no_ack: false,
            packet_size: DEFAULT_PACKET_SIZE,
            binary_writes: None,
            largest_sent: 0,
            peer: peer.to_owned(),
        };
        let features = gdb
            .request(b"qSupported:multiprocess-;swbreak+;hwbreak+")
            .await?;
        let features = String::from_utf8_lossy(&features).into_owned();
        for feature in features.split(';') {
            if let Some(size) = feature.strip_prefix("PacketSize=")
                && let Ok(n) = usize::from_str_radix(size, 16)
            {
                gdb.packet_size = n.max(64);
            }
        }
        if features.split(';').any(|f| f == "QStartNoAckMode+")
            && gdb.request(b"QStartNoAckMode").await? == b"OK"
        {
            gdb.no_ack = true;
        }
        Ok(gdb)
    }

    /// The largest packet the stub takes.
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// The largest packet sent so far.
    pub fn largest_sent(&self) -> usize {
        self.largest_sent
    }

    /// Asks why the target stopped (`?`); halts it first if it runs.
    pub async fn halt(&mut self) -> Result<String, GdbError> {
        let reply = self.request(b"?").await?;
        if reply.first().is_some_and(|b| matches!(b, b'S' | b'T')) {
            return Ok(String::from_utf8_lossy(&reply).into_owned());
        }
        // Running: interrupt it (a bare 0x03, not a packet) and wait for the stop reply.
        self.stream
            .write_all(&[0x03])
            .await
            .map_err(|e| self.io(e))?;
        let reply = self.reply("the halt").await?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }

    /// Reads `len` bytes at `address` (`m`), in packets the stub can answer.
    pub async fn read_memory(&mut self, address: u64, len: usize) -> Result<Vec<u8>, GdbError> {
        let chunk = ((self.packet_size.saturating_sub(4)) / 2).max(16);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = chunk.min(len - out.len());
            let at = address + out.len() as u64;
            let request = format!("m{at:x},{n:x}");
            let reply = self.request(request.as_bytes()).await?;
            self.refused(&format!("reading {n} bytes at {at:#x}"), &reply)?;
            let bytes = packet::unhex(&reply).ok_or_else(|| GdbError::Protocol {
                peer: self.peer.clone(),
                what: format!("the answer to `{request}` is not hex"),
            })?;
            if bytes.is_empty() {
                return Err(GdbError::Protocol {
                    peer: self.peer.clone(),
                    what: format!("`{request}` returned nothing"),
                });
            }
            out.extend_from_slice(&bytes);
        }
        out.truncate(len);
        Ok(out)
    }

    /// Writes `data` at `address`: binary `X` packets filled to the stub's packet size, or hex
    /// `M` packets if it does not take binary.
    pub async fn write_memory(&mut self, address: u64, data: &[u8]) -> Result<(), GdbError> {
        if self.binary_writes.is_none() {
            // A zero-length write asks whether `X` is supported without touching memory.
            let probe = format!("X{address:x},0:");
            let reply = self.request(probe.as_bytes()).await?;
            self.binary_writes = Some(reply == b"OK");
        }
        let mut done = 0;
        while done < data.len() {
            let at = address + done as u64;
            let (request, n) = if self.binary_writes == Some(true) {
                self.binary_write(at, &data[done..])
            } else {
                let header = format!("M{at:x},");
                // Two hex digits a byte, and the length field grows at most to 8 digits.
                let room = self.packet_size.saturating_sub(header.len() + 4 + 9) / 2;
                let n = room.max(1).min(data.len() - done);
                let mut request = format!("M{at:x},{n:x}:").into_bytes();
                request.extend_from_slice(packet::hex(&data[done..done + n]).as_bytes());
                (request, n)
            };
            let reply = self.request(&request).await?;
            self.refused(&format!("writing {n} bytes at {at:#x}"), &reply)?;
            if reply != b"OK" {
                return Err(GdbError::Protocol {
                    peer: self.peer.clone(),
                    what: format!(
                        "a memory write at {at:#x} was answered with `{}`",
                        String::from_utf8_lossy(&reply)
                    ),
                });
            }
            done += n;
        }
        Ok(())
    }

    /// The most of `data` one `X` packet at `at` carries, escapes counted.
    fn binary_write(&self, at: u64, data: &[u8]) -> (Vec<u8>, usize) {
        // `$`, `#` and two checksum digits, and the header with the longest length field.
        let header_room = format!("X{at:x},{:x}:", data.len()).len();
        let budget = self.packet_size.saturating_sub(4 + header_room).max(1);
        let mut n = 0;
        let mut used = 0;
        for &b in data {
            let cost = if matches!(b, b'#' | b'$' | b'}' | b'*') {
                2
            } else {
                1
            };
            if used + cost > budget {
                break;
            }
            used += cost;
            n += 1;
        }
        let n = n.max(1);
        let mut request = format!("X{at:x},{n:x}:").into_bytes();
        request.reserve(packet::escaped_len(&data[..n]));
        packet::escape_into(&data[..n], &mut request);
        (request, n)
    }

    /// The stub's CRC of a memory range (`qCRC`), or `None` if it does not compute one.
    pub async fn crc(&mut self, address: u64, len: usize) -> Result<Option<u32>, GdbError> {
        let request = format!("qCRC:{address:x},{len:x}");
        let reply = self.request(request.as_bytes()).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        self.refused(&request, &reply)?;
        let crc = reply
            .strip_prefix(b"C")
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        Ok(crc)
    }

    /// Runs a monitor command (`qRcmd`), returning what it printed.
    pub async fn monitor(&mut self, command: &str) -> Result<String, GdbError> {
        let request = format!("qRcmd,{}", packet::hex(command.as_bytes()));
        self.send(request.as_bytes()).await?;
        let mut printed = Vec::new();
        loop {
            let reply = self.reply(&format!("monitor {command}")).await?;
            match reply.strip_prefix(b"O") {
                // Console output, hex-encoded, until the final answer.
                Some(hex) if !hex.is_empty() && reply != b"OK" => {
                    printed.extend(packet::unhex(hex).unwrap_or_default());
                }
                _ => {
                    if reply.is_empty() {
                        return Err(GdbError::Unsupported {
                            peer: self.peer.clone(),
                            what: format!("monitor command `{command}`"),
                        });
                    }
                    self.refused(&format!("monitor {command}"), &reply)?;
                    return Ok(String::from_utf8_lossy(&printed).into_owned());
                }
            }
        }
    }

    /// Lets the target run and ends the session (`D`); the stub keeps it running.
    pub async fn detach(mut self) -> Result<(), GdbError> {
        let reply = self.request(b"D").await?;
        self.refused("D", &reply)?;
        Ok(())
    }

    fn refused(&self, request: &str, reply: &[u8]) -> Result<(), GdbError> {
        match reply {
            [b'E', code @ ..] if code.len() == 2 => Err(GdbError::Refused {
                peer: self.peer.clone(),
                request: request.to_owned(),
                code: String::from_utf8_lossy(code).into_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Sends a packet and returns the reply's payload.
    pub async fn request(&mut self, payload: &[u8]) -> Result<Vec<u8>, GdbError> {
        self.send(payload).await?;
        let what = String::from_utf8_lossy(&payload[..payload.len().min(24)]).into_owned();
        self.reply(&what).await
    }

    async fn send(&mut self, payload: &[u8]) -> Result<(), GdbError> {
        let packet = frame(payload);
        self.largest_sent = self.largest_sent.max(packet.len());
        for _ in 0..=RETRANSMITS {
            self.stream
                .write_all(&packet)
                .await
                .map_err(|e| self.io(e))?;
            if self.no_ack {
                return Ok(());
            }
            match self.next_byte_of(b"+-").await? {
                b'+' => return Ok(()),
                _ => continue,
            }
        }
        Err(GdbError::Protocol {
            peer: self.peer.clone(),
            what: format!("the stub rejected a packet {} times", RETRANSMITS + 1),
        })
    }

    /// Waits for a packet, acknowledging it; answers a bad checksum with `-`.
    async fn reply(&mut self, what: &str) -> Result<Vec<u8>, GdbError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.read_packet())
            .await
            .map_err(|_| GdbError::Timeout {
                what: format!("the answer to `{what}`"),
                after: timeout,
            })?
    }

    async fn read_packet(&mut self) -> Result<Vec<u8>, GdbError> {
        loop {
            // Acknowledgements and noise before a packet are skipped.
            if let Some((payload, checksum)) = packet::take_packet(&mut self.inbox) {
                if !self.no_ack {
                    let ack: &[u8] = if packet::checksum_ok(&payload, &checksum) {
                        b"+"
                    } else {
                        b"-"
                    };
                    self.stream.write_all(ack).await.map_err(|e| self.io(e))?;
                    if ack == b"-" {
                        continue;
                    }
                }
                return Ok(packet::expand_rle(&payload));
            }
            self.fill().await?;
        }
    }

    async fn next_byte_of(&mut self, wanted: &[u8]) -> Result<u8, GdbError> {
        let timeout = self.timeout;
        let wait = async {
            loop {
                if let Some(i) = self.inbox.iter().position(|b| wanted.contains(b)) {
                    let b = self.inbox[i];
                    self.inbox.drain(..=i);
                    return Ok(b);
                }
                self.inbox.clear();
                self.fill().await?;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| GdbError::Timeout {
                what: "an acknowledgement".to_owned(),
                after: timeout,
            })?
    }

    async fn fill(&mut self) -> Result<(), GdbError> {
        let mut buf = [0u8; 4096];
        let n = self.stream.read(&mut buf).await.map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(GdbError::Closed {
                peer: self.peer.clone(),
            });
        }
        self.inbox.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> GdbError {
        GdbError::Io {
            peer: self.peer.clone(),
            source,
        }
    }
}
