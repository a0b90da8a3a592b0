//! The task that owns the port while a session lasts.
//!
//! It reads continuously, so bytes are timestamped when they arrive (not when someone next asks)
//! and a chatty device never fills the OS buffer; it serves writes, pacing them byte by byte
//! while still reading; and when the port vanishes it reopens it per the session's policy and
//! notes both in the transcript.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use rigor_hal::{ConsolePort, HalError};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::input::Input;
use crate::transcript::{Direction, Transcript};

/// What to do when the port vanishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenPolicy {
    /// Leave it gone: waits end at once with [`crate::ExpectError::PortGone`].
    Never,
    /// Try again after `first`, doubling the pause up to `max`, for as long as the session lasts;
    /// a wait that reaches its deadline with the port still gone ends with
    /// [`crate::ExpectError::PortGone`].
    Retry {
        /// The pause before the first attempt.
        first: Duration,
        /// The longest pause between attempts.
        max: Duration,
    },
}

impl Default for ReopenPolicy {
    /// USB serial adapters re-enumerate in tens to hundreds of milliseconds.
    fn default() -> Self {
        ReopenPolicy::Retry {
            first: Duration::from_millis(50),
            max: Duration::from_secs(1),
        }
    }
}

/// Why the port is unusable now.
#[derive(Debug)]
pub(crate) struct Gone {
    pub cause: Arc<HalError>,
    pub failed_reopens: u32,
}

#[derive(Debug)]
pub(crate) struct State {
    pub input: Input,
    pub transcript: Transcript,
    pub gone: Option<Gone>,
    /// The task has stopped: nothing more will arrive.
    pub closed: bool,
}

/// What the session and its task share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken on every arrival and every change of the port's state.
    pub changed: Notify,
    pub start: Instant,
}

impl Shared {
    pub(crate) fn new(input: Input, transcript: Transcript) -> Self {
        Shared {
            state: Mutex::new(State {
                input,
                transcript,
                gone: None,
                closed: false,
            }),
            changed: Notify::new(),
            start: Instant::now(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement; a panic elsewhere need not poison it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A request to the task.
pub(crate) enum Command {
    Write {
        bytes: Vec<u8>,
        pacing: Option<Duration>,
        reply: oneshot::Sender<Result<(), HalError>>,
    },
    SetBaud {
        baud: u32,
        reply: oneshot::Sender<Result<(), HalError>>,
    },
    Close,
}

/// One read's worth; a burst is gathered into a batch of several before matchers are woken.
const READ_CHUNK: usize = 16 * 1024;
const BATCH: usize = 4 * READ_CHUNK;

pub(crate) struct Pump {
    port: Box<dyn ConsolePort>,
    shared: Arc<Shared>,
    policy: ReopenPolicy,
    pause: Duration,
    buf: Vec<u8>,
}

/// Marks the session closed however the task ends, a panic included, so no wait hangs on it.
struct MarkClosed(Arc<Shared>);

impl Drop for MarkClosed {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.changed.notify_waiters();
    }
}

impl Pump {
    pub(crate) fn new(
        port: Box<dyn ConsolePort>,
        shared: Arc<Shared>,
        policy: ReopenPolicy,
    ) -> Self {
        Pump {
            port,
            shared,
            policy,
            pause: Duration::ZERO,
            buf: vec![0; BATCH],
        }
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let _closed = MarkClosed(self.shared.clone());
        loop {
            if self.is_gone() {
                let retry = match self.policy {
                    ReopenPolicy::Never => None,
                    ReopenPolicy::Retry { .. } => Some(self.pause),
                };
                tokio::select! {
                    cmd = commands.recv() => if !self.serve(cmd).await { return },
                    () = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {
                        self.try_reopen().await;
                    }
                }
                continue;
            }
            tokio::select! {
                biased;
                cmd = commands.recv() => if !self.serve(cmd).await { return },
                read = self.port.read(&mut self.buf[..READ_CHUNK]) => self.received(read).await,
            }
        }
    }

    fn is_gone(&self) -> bool {
        self.shared.lock().gone.is_some()
    }

    /// Serves a command; false when the session is over.
    async fn serve(&mut self, cmd: Option<Command>) -> bool {
        match cmd {
            None | Some(Command::Close) => false,
            Some(Command::Write {
                bytes,
                pacing,
                reply,
            }) => {
                let _ = reply.send(self.write(&bytes, pacing).await);
                true
            }
            Some(Command::SetBaud { baud, reply }) => {
                let result = self.port.set_baud(baud).await;
                if result.is_ok() {
                    let at = self.shared.now();
                    let note = format!("baud rate set to {baud}");
                    self.shared.lock().transcript.event(at, &note);
                }
                let _ = reply.send(result);
                true
            }
        }
    }

    async fn received(&mut self, first: Result<usize, HalError>) {
        let mut filled = match first {
            Ok(n) => n,
            Err(e) => return self.vanished(e, "vanished"),
        };
        // Take what is already waiting too: one arrival, one wake-up of the matcher per burst.
        let mut failure = None;
        while filled > 0 && filled + READ_CHUNK <= self.buf.len() {
            let chunk = &mut self.buf[filled..filled + READ_CHUNK];
            match read_now(self.port.as_mut(), chunk).await {
                Some(Ok(0)) | None => break,
                Some(Ok(n)) => filled += n,
                Some(Err(e)) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if filled > 0 {
            let at = self.shared.now();
            let mut st = self.shared.lock();
            st.transcript
                .record(at, Direction::Received, &self.buf[..filled]);
            let dropped = st.input.push(&self.buf[..filled], at);
            if dropped > 0 {
                let note = format!(
                    "input no pattern matched overflowed: dropped its oldest {dropped} bytes"
                );
                st.transcript.event(at, &note);
            }
            drop(st);
            self.shared.changed.notify_waiters();
        }
        if let Some(e) = failure {
            self.vanished(e, "vanished");
        }
    }

    fn vanished(&mut self, error: HalError, how: &str) {
        let at = self.shared.now();
        let note = format!("{} {how}: {}", self.port.describe(), chain(&error));
        let mut st = self.shared.lock();
        st.transcript.event(at, &note);
        st.gone = Some(Gone {
            cause: Arc::new(error),
            failed_reopens: 0,
        });
        drop(st);
        if let ReopenPolicy::Retry { first, .. } = self.policy {
            self.pause = first;
        }
        self.shared.changed.notify_waiters();
    }

    async fn try_reopen(&mut self) {
        let result = self.port.reopen().await;
        let at = self.shared.now();
        let mut st = self.shared.lock();
        match result {
            Ok(()) => {
                let failed = st.gone.take().map_or(0, |g| g.failed_reopens);
                st.input.flush_partial(at);
                let note = format!(
                    "{} reopened after {failed} failed attempt{}",
                    self.port.describe(),
                    if failed == 1 { "" } else { "s" }
                );
                st.transcript.event(at, &note);
                drop(st);
                self.shared.changed.notify_waiters();
            }
            Err(e) => {
                if let Some(g) = st.gone.as_mut() {
                    g.failed_reopens += 1;
                    // The device took the port with it (an emulated board died): say so, and
                    // waits stop at once, as nothing will come back.
                    if e.blame() == rigor_hal::Blame::Device {
                        g.cause = Arc::new(e);
                        drop(st);
                        self.shared.changed.notify_waiters();
                        return;
                    }
                }
                if let ReopenPolicy::Retry { max, .. } = self.policy {
                    self.pause = (self.pause * 2).min(max);
                }
            }
        }
    }

    async fn write(&mut self, bytes: &[u8], pacing: Option<Duration>) -> Result<(), HalError> {
        let gap = match pacing {
            Some(gap) if !gap.is_zero() => gap,
            _ => return self.write_now(bytes).await,
        };
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                self.read_for(gap).await;
            }
            self.write_now(std::slice::from_ref(b)).await?;
        }
        Ok(())
    }

    async fn write_now(&mut self, bytes: &[u8]) -> Result<(), HalError> {
        if self.is_gone() {
            return Err(HalError::Disconnected {
                what: self.port.describe(),
                source: None,
            });
        }
        let result = self.port.write_all(bytes).await;
        match &result {
            Ok(()) => {
                let at = self.shared.now();
                self.shared
                    .lock()
                    .transcript
                    .record(at, Direction::Sent, bytes);
            }
            Err(e @ HalError::Disconnected { .. }) => {
                let note = chain(e);
                let what = self.port.describe();
                self.vanished(
                    HalError::Disconnected { what, source: None },
                    &format!("vanished while written to ({note})"),
                );
            }
            Err(_) => {}
        }
        result
    }

    /// Keeps reading for `gap` (between paced bytes), so echoes are timed as they come.
    async fn read_for(&mut self, gap: Duration) {
        let until = Instant::now() + gap;
        while !self.is_gone() {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                read = self.port.read(&mut self.buf[..READ_CHUNK]) => self.received(read).await,
            }
        }
    }
}

/// Polls one read once: what has arrived already, or `None` without waiting.
async fn read_now(port: &mut dyn ConsolePort, buf: &mut [u8]) -> Option<Result<usize, HalError>> {
    let mut read = port.read(buf);
    // Dropping the read when it is pending is safe: `ConsolePort::read` is cancel-safe.
    std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// An error and its sources, as one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
