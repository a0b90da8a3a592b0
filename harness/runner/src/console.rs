//! The console session: the expect engine above a `ConsolePort` byte stream.
//!
//! A task owns the port, reads continuously (so bytes are timestamped when they arrive and a
//! chatty device never fills the OS buffer), and serves writes. `expect` matches against what has
//! arrived and consumes input only up to the end of its match, so a later expect still sees what
//! follows. Input is decoded lossily: garbage and broken UTF-8 on the line become U+FFFD and never
//! wedge a match; the transcript keeps the raw bytes. A port that vanishes is reopened by its
//! backend (which finds it again by stable identity) until the session ends.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rigor_hal::{ConsolePort, HalError};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the device.
    Received,
    /// To the device.
    Sent,
    /// A note by rigor (port vanished, reopened).
    Note,
}

/// One entry of the transcript.
#[derive(Debug, Clone)]
pub struct TranscriptEntry {
    /// Time since the session began.
    pub at: Duration,
    /// Which way.
    pub direction: Direction,
    /// The bytes (for notes, the note's text).
    pub bytes: Vec<u8>,
}

/// Most text kept for matching; older input is dropped (and the drop noted in the transcript).
const INBOX_LIMIT: usize = 1 << 20;

#[derive(Debug, Default)]
struct Inbox {
    /// Decoded input not yet consumed by a match.
    text: String,
    /// Trailing bytes of an incomplete UTF-8 sequence, waiting for the rest.
    partial: Vec<u8>,
    /// Why the port is unusable now, if it is.
    gone: Option<String>,
    transcript: Vec<TranscriptEntry>,
}

impl Inbox {
    fn push(&mut self, bytes: &[u8], at: Duration) {
        self.transcript.push(TranscriptEntry {
            at,
            direction: Direction::Received,
            bytes: bytes.to_vec(),
        });
        self.partial.extend_from_slice(bytes);
        let valid_up_to = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            // An incomplete sequence at the end may still complete; anything else is garbage now.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.partial.len(),
        };
        let done: Vec<u8> = self.partial.drain(..valid_up_to).collect();
        self.text.push_str(&String::from_utf8_lossy(&done));
        if self.text.len() > INBOX_LIMIT {
            let mut cut = self.text.len() - INBOX_LIMIT / 2;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            self.text.drain(..cut);
            let note = format!("[{cut} bytes of unmatched input dropped]");
            self.transcript.push(TranscriptEntry {
                at,
                direction: Direction::Note,
                bytes: note.into_bytes(),
            });
        }
    }
}

enum Command {
    Write(
        Vec<u8>,
        Option<Duration>,
        oneshot::Sender<Result<(), HalError>>,
    ),
    SetBaud(u32, oneshot::Sender<Result<(), HalError>>),
    Close,
}

/// A match of an expected pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The matched text.
    pub text: String,
    /// Named groups.
    pub captures: BTreeMap<String, String>,
}

/// Why an expectation was not met.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    /// The pattern did not appear in time. The device's fault, unless the port was gone.
    #[error("`{pattern}` did not appear within {within:?}; last output: {tail:?}")]
    NotSeen {
        /// The pattern.
        pattern: String,
        /// How long rigor waited.
        within: Duration,
        /// The end of what was seen, for the failure message.
        tail: String,
    },
    /// The port was gone when the wait ended.
    #[error("console {port} was gone while waiting for `{pattern}`: {why}")]
    PortGone {
        /// The port.
        port: String,
        /// The pattern.
        pattern: String,
        /// What happened to it.
        why: String,
    },
}

/// A console session on one port.
pub struct Console {
    inbox: Arc<Mutex<Inbox>>,
    arrived: Arc<Notify>,
    commands: mpsc::Sender<Command>,
    start: Instant,
    name: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn lock(m: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Console {
    /// Starts a session on `port`; its task runs until the session is dropped.
    pub fn start(port: Box<dyn ConsolePort>) -> Console {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let arrived = Arc::new(Notify::new());
        let (commands, rx) = mpsc::channel(16);
        let start = Instant::now();
        let name = port.describe();
        let task = tokio::spawn(serve(port, rx, inbox.clone(), arrived.clone(), start));
        Console {
            inbox,
            arrived,
            commands,
            start,
            name,
            task: Some(task),
        }
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `text`, waiting `pacing` between characters if given (for bootloaders that drop fast input).
    pub async fn send(&self, bytes: &[u8], pacing: Option<Duration>) -> Result<(), HalError> {
        let (tx, rx) = oneshot::channel();
        let gone = || HalError::Disconnected {
            what: self.name.clone(),
            source: None,
        };
        self.commands
            .send(Command::Write(bytes.to_vec(), pacing, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Changes the baud rate.
    pub async fn set_baud(&self, baud: u32) -> Result<(), HalError> {
        let (tx, rx) = oneshot::channel();
        let gone = || HalError::Disconnected {
            what: self.name.clone(),
            source: None,
        };
        self.commands
            .send(Command::SetBaud(baud, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Waits up to `within` for `pattern`; consumes input up to the end of the match.
    pub async fn expect(
        &self,
        pattern: &regex::Regex,
        within: Duration,
    ) -> Result<Match, ExpectError> {
        let deadline = Instant::now() + within;
        loop {
            // Register for the next arrival before looking, so none slips between look and wait.
            let notified = self.arrived.notified();
            {
                let mut inbox = lock(&self.inbox);
                if let Some(caps) = pattern.captures(&inbox.text) {
                    let whole = caps.get(0).map_or(0..0, |m| m.range());
                    let captures = pattern
                        .capture_names()
                        .flatten()
                        .filter_map(|n| caps.name(n).map(|m| (n.to_owned(), m.as_str().to_owned())))
                        .collect();
                    let text = inbox.text[whole.clone()].to_owned();
                    inbox.text.drain(..whole.end);
                    return Ok(Match { text, captures });
                }
                if Instant::now() >= deadline {
                    let tail = tail(&inbox.text, 200);
                    return Err(match &inbox.gone {
                        Some(why) => ExpectError::PortGone {
                            port: self.name.clone(),
                            pattern: pattern.to_string(),
                            why: why.clone(),
                        },
                        None => ExpectError::NotSeen {
                            pattern: pattern.to_string(),
                            within,
                            tail,
                        },
                    });
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Takes everything that arrives for `duration`, or until `until` matches (inclusive).
    pub async fn capture(
        &self,
        until: Option<&regex::Regex>,
        duration: Option<Duration>,
        limit: Duration,
    ) -> Result<String, ExpectError> {
        if let Some(re) = until {
            let m = self.expect(re, duration.unwrap_or(limit)).await?;
            // Everything before the match was consumed with it; return the consumed span.
            return Ok(m.text);
        }
        tokio::time::sleep(duration.unwrap_or(limit)).await;
        let mut inbox = lock(&self.inbox);
        Ok(std::mem::take(&mut inbox.text))
    }

    /// The transcript so far, one line per chunk: `[  1.234] < text` (`>` sent, `!` notes).
    pub fn transcript(&self) -> String {
        let inbox = lock(&self.inbox);
        let mut out = String::new();
        for e in &inbox.transcript {
            let mark = match e.direction {
                Direction::Received => '<',
                Direction::Sent => '>',
                Direction::Note => '!',
            };
            let text = String::from_utf8_lossy(&e.bytes).escape_debug().to_string();
            let _ = writeln!(out, "[{:>8.3}] {mark} {text}", e.at.as_secs_f64());
        }
        out
    }

    /// Time since the session began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Console {
    /// Ends the session and waits until the port is closed, so the next session (or process) can
    /// open it at once: ports are opened exclusively.
    pub async fn close(mut self) {
        let _ = self.commands.send(Command::Close).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

/// The port's task: read continuously, serve writes, reopen a vanished port.
async fn serve(
    mut port: Box<dyn ConsolePort>,
    mut commands: mpsc::Receiver<Command>,
    inbox: Arc<Mutex<Inbox>>,
    arrived: Arc<Notify>,
    start: Instant,
) {
    let mut buf = vec![0u8; 4096];
    let note = |text: String| {
        lock(&inbox).transcript.push(TranscriptEntry {
            at: start.elapsed(),
            direction: Direction::Note,
            bytes: text.into_bytes(),
        });
    };
    loop {
        let gone = lock(&inbox).gone.is_some();
        if gone {
            // Re-enumeration takes a moment; try again at a modest pace rather than spinning.
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Write(_, _, reply)) | Some(Command::SetBaud(_, reply)) => {
                        let _ = reply.send(Err(HalError::Disconnected { what: port.describe(), source: None }));
                    }
                    Some(Command::Close) | None => return,
                },
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if port.reopen().await.is_ok() {
                        lock(&inbox).gone = None;
                        note(format!("{} reopened", port.describe()));
                        arrived.notify_waiters();
                    }
                }
            }
            continue;
        }
        tokio::select! {
            read = port.read(&mut buf) => match read {
                Ok(0) => {}
                Ok(n) => {
                    lock(&inbox).push(&buf[..n], start.elapsed());
                    arrived.notify_waiters();
                }
                Err(e) => {
                    note(format!("{e}"));
                    lock(&inbox).gone = Some(e.to_string());
                    arrived.notify_waiters();
                }
            },
            cmd = commands.recv() => match cmd {
                Some(Command::Write(bytes, pacing, reply)) => {
                    let result = write(port.as_mut(), &bytes, pacing).await;
                    lock(&inbox).transcript.push(TranscriptEntry { at: start.elapsed(), direction: Direction::Sent, bytes });
                    let _ = reply.send(result);
                }
                Some(Command::SetBaud(baud, reply)) => {
                    let _ = reply.send(port.set_baud(baud).await);
                }
                Some(Command::Close) | None => return,
            },
        }
    }
}

async fn write(
    port: &mut dyn ConsolePort,
    bytes: &[u8],
    pacing: Option<Duration>,
) -> Result<(), HalError> {
    match pacing {
        None => port.write_all(bytes).await,
        Some(gap) => {
            for b in bytes {
                port.write_all(std::slice::from_ref(b)).await?;
                tokio::time::sleep(gap).await;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigor_hal::fake::FakeConsole;

    fn re(s: &str) -> regex::Regex {
        regex::Regex::new(s).unwrap()
    }

    #[tokio::test]
    async fn an_expect_leaves_what_follows_its_match_for_the_next() {
        let (port, device) = FakeConsole::pair();
        let console = Console::start(Box::new(port));
        device.send("boot: fw 2.1.0\r\nready\r\n");
        let m = console
            .expect(&re(r"fw (?P<fw>\S+)"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(m.captures["fw"], "2.1.0");
        let m = console
            .expect(&re("ready"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(m.text, "ready");
    }

    #[tokio::test]
    async fn garbage_and_split_utf8_do_not_wedge_matching() {
        let (port, device) = FakeConsole::pair();
        let console = Console::start(Box::new(port));
        device.send(b"\xff\x00\xfe noise temp: 4.2");
        device.send(b"5 \xc2");
        device.send(b"\xb0C\r\n");
        let m = console
            .expect(&re(r"temp: (?P<t>[\d.]+) °C"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(m.captures["t"], "4.25");
        assert!(
            console
                .transcript()
                .contains("< \u{fffd}\\0\u{fffd} noise temp: 4.2"),
            "{}",
            console.transcript()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_pattern_times_out_with_the_last_output() {
        let (port, device) = FakeConsole::pair();
        let console = Console::start(Box::new(port));
        device.send("booting...\r\n");
        let err = console
            .expect(&re("ready"), Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`ready` did not appear within 3s; last output: \"booting...\\r\\n\""
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_vanished_port_is_reopened_and_the_expect_still_succeeds() {
        let (port, device) = FakeConsole::pair();
        let console = Console::start(Box::new(port));
        device.vanish();
        console.send(b"x", None).await.unwrap_err();
        device.send("reconnected banner\r\n");
        let m = console
            .expect(&re("banner"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(m.text, "banner");
        assert!(device.reopens() >= 1);
        assert!(
            console.transcript().contains("! fake console reopened"),
            "{}",
            console.transcript()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn paced_sends_arrive_whole() {
        let (port, device) = FakeConsole::pair();
        let console = Console::start(Box::new(port));
        console
            .send(b"abc\r\n", Some(Duration::from_millis(5)))
            .await
            .unwrap();
        let mut got = Vec::new();
        while got.len() < 5 {
            got.extend(device.received().await.unwrap());
        }
        assert_eq!(got, b"abc\r\n");
        assert!(console.transcript().contains("> abc\\r\\n"));
    }
}
