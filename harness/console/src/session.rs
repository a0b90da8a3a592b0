//! The console session: the expect engine above a `ConsolePort`.
//!
//! `expect` matches what has arrived and consumes input only up to the end of its match, so what
//! follows stays for the next one. Matching runs on lossily decoded text, so noise and broken
//! UTF-8 never wedge it; the transcript keeps the raw bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use rigor_hal::{ConsolePort, HalError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{ExpectError, quote};
use crate::input::Input;
use crate::pump::{Command, Pump, ReopenPolicy, Shared, State};
use crate::search::{Analysis, Found, Matcher, search};
use crate::transcript::Transcript;

/// How a session behaves; the defaults suit a UART at up to a few Mbit/s.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Most unconsumed input kept for matching; past it the oldest is dropped, and the drop noted
    /// in the transcript.
    pub buffer_limit: usize,
    /// Most bytes the transcript keeps; past it the oldest entries are dropped.
    pub transcript_limit: usize,
    /// What to do when the port vanishes.
    pub reopen: ReopenPolicy,
    /// How long a match that reaches the end of the input and could still grow (`fw \S+` having
    /// seen `fw 1.2` of `fw 1.2.0`) waits for more input before it is taken. Zero takes it at
    /// once. Fixed-length patterns without assertions never wait.
    pub settle: Duration,
    /// How long a send waits for a vanished port to come back (under a policy that reopens it)
    /// before it fails: long enough for a USB adapter to re-enumerate.
    pub reconnect_wait: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            buffer_limit: 1 << 20,
            transcript_limit: 64 << 20,
            reopen: ReopenPolicy::default(),
            // A USB serial adapter hands over what it has every 1 to 16 ms.
            settle: Duration::from_millis(20),
            reconnect_wait: Duration::from_secs(2),
        }
    }
}

/// What to append to a line sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// Nothing.
    None,
    /// `\n`.
    Lf,
    /// `\r`, as a terminal's Enter key sends.
    Cr,
    /// `\r\n`.
    #[default]
    CrLf,
}

impl LineEnding {
    /// The bytes appended.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::None => b"",
            LineEnding::Lf => b"\n",
            LineEnding::Cr => b"\r",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

/// A match of an expected pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The matched text.
    pub text: String,
    /// The unconsumed text before the match, consumed with it.
    pub before: String,
    /// Named groups that took part in the match.
    pub captures: BTreeMap<String, String>,
    /// When the match's last byte arrived, since the session started.
    pub at: Duration,
}

/// Where a capture ends.
#[derive(Debug, Clone, Copy)]
pub enum Until<'a> {
    /// At the end of the first match of `pattern`, waiting at most `within`.
    Match {
        /// The pattern.
        pattern: &'a Regex,
        /// How long to wait for it.
        within: Duration,
    },
    /// After this long.
    Elapsed(Duration),
}

/// A console session on one port: expect, send, capture, and a transcript of it all.
///
/// A task owns the port for as long as the session lasts (see [`ConsoleSession::start`]).
pub struct ConsoleSession {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    name: String,
    options: SessionOptions,
    analyses: HashMap<String, Analysis>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ConsoleSession {
    /// Starts a session on `port` with the default options. Must be called within a Tokio
    /// runtime: the port's task is spawned on it.
    pub fn start(port: Box<dyn ConsolePort>) -> Self {
        Self::with_options(port, SessionOptions::default())
    }

    /// Starts a session on `port`. Must be called within a Tokio runtime.
    pub fn with_options(port: Box<dyn ConsolePort>, options: SessionOptions) -> Self {
        let shared = Arc::new(Shared::new(
            Input::new(options.buffer_limit),
            Transcript::new(options.transcript_limit),
        ));
        let (commands, rx) = mpsc::channel(16);
        let name = port.describe();
        let pump = Pump::new(port, shared.clone(), options.reopen);
        let task = tokio::spawn(pump.run(rx));
        ConsoleSession {
            shared,
            commands,
            name,
            options,
            analyses: HashMap::new(),
            task: Some(task),
        }
    }

    /// The port, as it described itself when the session started.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time since the session started: the clock of matches and the transcript.
    pub fn elapsed(&self) -> Duration {
        self.shared.now()
    }

    /// Whether the port is open now (not vanished, not closed).
    pub fn is_connected(&self) -> bool {
        let st = self.shared.lock();
        st.gone.is_none() && !st.closed
    }

    /// A copy of the transcript so far.
    pub fn transcript(&self) -> Transcript {
        self.shared.lock().transcript.clone()
    }

    /// Sends `text` and a line ending, waiting `pacing` between bytes if given (for bootloaders
    /// that drop input arriving faster than they can echo it).
    pub async fn send(
        &self,
        text: &str,
        ending: LineEnding,
        pacing: Option<Duration>,
    ) -> Result<(), HalError> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.extend_from_slice(ending.as_bytes());
        self.send_bytes(&bytes, pacing).await
    }

    /// Sends raw bytes, waiting `pacing` between them if given. If the port has vanished and the
    /// session reopens it, waits up to [`SessionOptions::reconnect_wait`] for it first.
    pub async fn send_bytes(&self, bytes: &[u8], pacing: Option<Duration>) -> Result<(), HalError> {
        self.wait_reconnected().await;
        self.request(|reply| Command::Write {
            bytes: bytes.to_vec(),
            pacing,
            reply,
        })
        .await
    }

    /// Changes the baud rate mid-session (a bootloader hands over to the application); the port
    /// keeps it across reopens.
    pub async fn set_baud(&self, baud: u32) -> Result<(), HalError> {
        self.request(|reply| Command::SetBaud { baud, reply }).await
    }

    async fn wait_reconnected(&self) {
        if self.options.reopen == ReopenPolicy::Never {
            return;
        }
        let deadline = Instant::now() + self.options.reconnect_wait;
        loop {
            // Created before looking, so a reopen between the look and the wait still wakes.
            let changed = self.shared.changed.notified();
            {
                let st = self.shared.lock();
                if st.gone.is_none() || st.closed {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    async fn request(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), HalError>>) -> Command,
    ) -> Result<(), HalError> {
        let closed = || HalError::Disconnected {
            what: self.name.clone(),
            source: None,
        };
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Waits up to `within` for `pattern`, and consumes input up to the end of its match.
    ///
    /// Patterns that cannot match a newline are searched incrementally, so a long log before the
    /// match costs linear time; others are searched from the oldest unconsumed input on each
    /// arrival.
    pub async fn expect(
        &mut self,
        pattern: &Regex,
        within: Duration,
    ) -> Result<Match, ExpectError> {
        self.wait(&[pattern], within).await.map(|(_, m)| m)
    }

    /// Waits up to `within` for any of `patterns`; the match that starts first wins, and on a tie
    /// the pattern listed first. Returns the winner's index and match.
    pub async fn expect_any(
        &mut self,
        patterns: &[Regex],
        within: Duration,
    ) -> Result<(usize, Match), ExpectError> {
        let patterns: Vec<&Regex> = patterns.iter().collect();
        self.wait(&patterns, within).await
    }

    /// Takes the output until a match (the text before it and the match itself) or for a time
    /// (everything unconsumed by then, including what was waiting before the call).
    pub async fn capture(&mut self, until: Until<'_>) -> Result<String, ExpectError> {
        match until {
            Until::Match { pattern, within } => {
                let m = self.expect(pattern, within).await?;
                Ok(m.before + &m.text)
            }
            Until::Elapsed(time) => {
                tokio::time::sleep(time).await;
                Ok(self.shared.lock().input.take_all())
            }
        }
    }

    /// Ends the session and waits until the port is closed, so the next session (or process) can
    /// open it at once: serial ports are opened exclusively.
    pub async fn close(mut self) {
        let _ = self.commands.send(Command::Close).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn analysis(&mut self, re: &Regex) -> Analysis {
        if let Some(a) = self.analyses.get(re.as_str()) {
            return *a;
        }
        // Scenarios use a handful of patterns; a program generating endless ones must not grow
        // this without bound.
        if self.analyses.len() >= 256 {
            self.analyses.clear();
        }
        let a = Analysis::of(re.as_str());
        self.analyses.insert(re.as_str().to_owned(), a);
        a
    }

    async fn wait(
        &mut self,
        patterns: &[&Regex],
        within: Duration,
    ) -> Result<(usize, Match), ExpectError> {
        let deadline = Instant::now() + within;
        let mut matchers: Vec<Matcher<'_>> = patterns
            .iter()
            .map(|re| Matcher::new(re, self.analysis(re)))
            .collect();
        loop {
            // Registered before looking, so an arrival between the look and the wait still wakes.
            let changed = self.shared.changed.notified();
            let mut wake = deadline;
            {
                let mut st = self.shared.lock();
                let now = Instant::now();
                let found = search(st.input.pending(), st.input.start(), &mut matchers);
                if let Some(found) = found {
                    let settle_until = self.settle_until(&st, &found, &matchers);
                    match settle_until {
                        Some(until) if now < until.min(deadline) => wake = until.min(deadline),
                        _ => return Ok((found.index, self.take(&mut st, found))),
                    }
                } else if st.closed {
                    return Err(ExpectError::Closed {
                        port: self.name.clone(),
                        patterns: quote(patterns),
                    });
                } else if now >= deadline
                    || st.gone.as_ref().is_some_and(|g| {
                        self.options.reopen == ReopenPolicy::Never
                            || g.cause.blame() == rigor_hal::Blame::Device
                    })
                {
                    return Err(match &st.gone {
                        Some(gone) => ExpectError::PortGone {
                            port: self.name.clone(),
                            patterns: quote(patterns),
                            failed_reopens: gone.failed_reopens,
                            source: gone.cause.clone(),
                        },
                        None => ExpectError::NotSeen {
                            patterns: quote(patterns),
                            within,
                            tail: st.input.tail().to_owned(),
                        },
                    });
                }
            }
            let _ = tokio::time::timeout_at(wake, changed).await;
        }
    }

    /// Until when a match that touches the end of the input should wait for more, if it should.
    fn settle_until(&self, st: &State, found: &Found, matchers: &[Matcher<'_>]) -> Option<Instant> {
        let settle = self.options.settle;
        let extendable = matchers.get(found.index)?.analysis.extendable;
        if settle.is_zero() || !extendable || found.end < st.input.end() {
            return None;
        }
        Some(self.shared.start + st.input.last_arrival()? + settle)
    }

    fn take(&self, st: &mut State, found: Found) -> Match {
        let base = st.input.start();
        let offset = |abs: u64| usize::try_from(abs - base).unwrap_or(usize::MAX);
        let pending = st.input.pending();
        let (start, end) = (offset(found.start), offset(found.end));
        let before = pending.get(..start).unwrap_or_default().to_owned();
        let text = pending.get(start..end).unwrap_or_default().to_owned();
        let at = st
            .input
            .arrived_at(found.end)
            .unwrap_or_else(|| self.shared.now());
        st.input.consume_to(found.end);
        Match {
            text,
            before,
            captures: found.captures,
            at,
        }
    }
}

impl Drop for ConsoleSession {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
