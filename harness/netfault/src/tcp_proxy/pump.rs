//! One direction of one connection: straight through (spliced) while no rule acts on it,
//! through a delivery queue while one does, switching at a chunk boundary as rules come and go.
//! A reader stamps queued chunks as they arrive, so a latency delays each chunk from its arrival
//! (pipelined, as toxiproxy's does) rather than adding up chunk after chunk.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::proxy::partitioned;
use super::rule::{Effect, Rule, Stream};
use super::splice::Pipe;

/// How a connection ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    Open,
    /// Closed with FIN (a timeout, a data limit).
    Close,
    /// Closed with RST (reset_peer).
    Reset,
}

/// The copying direct path's reads (where splice cannot be had): each costs a read and a
/// write, so fewer is faster.
const DIRECT_CHUNK: usize = 256 * 1024;
/// Reads on the queued path: small, so a bandwidth cap paces finely.
const QUEUED_CHUNK: usize = 16 * 1024;
/// Chunks queued at most: then the reader waits, and TCP pushes back on the sender.
const QUEUE: usize = 256;

/// What a stream does after a stretch of its life.
enum Next {
    /// No rule acts on it and nothing is queued: bytes go straight through.
    Direct,
    /// Rules act on it: chunks go through the queue.
    Queued,
    /// It is over (its end already delivered, or the proxy gone).
    Done,
    /// It ended early: close the socket this way.
    Finish(Ending),
}

/// Reads chunks and stamps them with their arrival, until end of stream. Cancel-safe at every
/// await (a slot is reserved before the read, and a socket read loses nothing when dropped), so
/// the stream can leave the queue for the direct path without losing a byte.
async fn read(from: &mut OwnedReadHalf, to: mpsc::Sender<(Instant, Vec<u8>)>, buf: &mut [u8]) {
    loop {
        let Ok(slot) = to.reserve().await else { return };
        match from.read(buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => slot.send((Instant::now(), buf[..n].to_vec())),
        }
    }
}

/// One stream's rules at work.
pub(super) struct Pump {
    stream: Stream,
    rules: watch::Receiver<Vec<Rule>>,
    ending: Arc<watch::Sender<Ending>>,
    rng: fastrand::Rng,
    /// Per rule: whether it acts on this connection (its toxicity, drawn once) and when this
    /// connection first saw it (timeouts count from then).
    seen: HashMap<String, (bool, Instant)>,
    passed: u64,
    bandwidth_free: Instant,
    /// The direct path's pipe; `None` once splice proved unavailable (then it copies).
    pipe: Option<Pipe>,
}

impl Pump {
    pub(super) fn new(
        stream: Stream,
        rules: watch::Receiver<Vec<Rule>>,
        ending: Arc<watch::Sender<Ending>>,
    ) -> Self {
        Self {
            stream,
            rules,
            ending,
            rng: fastrand::Rng::new(),
            seen: HashMap::new(),
            passed: 0,
            bandwidth_free: Instant::now(),
            pipe: Pipe::new().ok(),
        }
    }

    /// The effects acting on this stream of this connection now.
    fn active(&mut self) -> Vec<Effect> {
        let rules = self.rules.borrow_and_update().clone();
        let mut out = Vec::new();
        for r in rules.into_iter().filter(|r| r.stream == self.stream) {
            let rng = &mut self.rng;
            let (acts, _) = *self
                .seen
                .entry(r.name.clone())
                .or_insert_with(|| (rng.f64() < r.toxicity, Instant::now()));
            if acts {
                out.push(r.effect);
            }
        }
        out
    }

    /// When a timeout or reset ends the connection, and how.
    fn deadline(&self) -> Option<(Instant, Ending)> {
        let rules = self.rules.borrow();
        rules
            .iter()
            .filter(|r| r.stream == self.stream)
            .filter_map(|r| {
                let (acts, since) = self.seen.get(&r.name)?;
                match r.effect {
                    Effect::Timeout(Some(after)) if *acts => Some((*since + after, Ending::Close)),
                    Effect::ResetPeer(after) if *acts => Some((*since + after, Ending::Reset)),
                    _ => None,
                }
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Moves one stream from `from` to `to` until it ends.
    pub(super) async fn run(mut self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
        let mut buf = Vec::new();
        let mut next = Next::Queued;
        loop {
            next = match next {
                Next::Direct if self.pipe.is_some() => self.spliced(&mut from, &mut to).await,
                Next::Direct => {
                    buf.resize(DIRECT_CHUNK, 0);
                    self.copied(&mut from, &mut to, &mut buf).await
                }
                Next::Queued if self.active().is_empty() => Next::Direct,
                Next::Queued => {
                    buf.resize(QUEUED_CHUNK, 0);
                    self.queued(&mut from, &mut to, &mut buf[..QUEUED_CHUNK])
                        .await
                }
                Next::Done => return,
                Next::Finish(how) => return finish(to, how),
            };
        }
    }

    /// The direct path through the pipe. Returns when the rules change (to look again at which
    /// act), with the pipe emptied first so no byte overtakes another, or when the stream ends.
    async fn spliced(&mut self, from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf) -> Next {
        let Some(mut pipe) = self.pipe.take() else {
            return Next::Direct;
        };
        let mut ending = self.ending.subscribe();
        let (mut end, mut changed, mut full) = (false, false, false);
        let next = loop {
            if pipe.held == 0 && end {
                break self.end_of_stream(to).await;
            }
            if pipe.held == 0 && changed {
                break Next::Queued;
            }
            let fill = !end && !changed && !full && pipe.held < pipe.capacity;
            tokio::select! {
                biased;
                how = ended(&mut ending) => break Next::Finish(how),
                c = self.rules.changed(), if !changed => {
                    if c.is_err() {
                        break Next::Done;
                    }
                    changed = true;
                }
                moved = pipe.drain(to), if pipe.held > 0 => match moved {
                    Ok(n) => {
                        pipe.held -= n;
                        self.passed += n as u64;
                        full = false;
                    }
                    Err(_) => {
                        self.ending.send_replace(Ending::Close);
                        break Next::Finish(Ending::Close);
                    }
                },
                moved = pipe.fill(from), if fill => match moved {
                    Ok(Some(0)) => end = true,
                    Ok(Some(n)) => pipe.held += n,
                    Ok(None) => full = true,
                    // A socket splice cannot serve, before any byte moved: copy instead.
                    Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) && pipe.held == 0 => {
                        return Next::Direct;
                    }
                    Err(_) => end = true,
                },
            }
        };
        self.pipe = Some(pipe);
        next
    }

    /// The direct path where splice cannot be had: one buffer, copied in and out.
    async fn copied(
        &mut self,
        from: &mut OwnedReadHalf,
        to: &mut OwnedWriteHalf,
        buf: &mut [u8],
    ) -> Next {
        let mut ending = self.ending.subscribe();
        tokio::select! {
            biased;
            how = ended(&mut ending) => Next::Finish(how),
            changed = self.rules.changed() => {
                if changed.is_err() { Next::Done } else { Next::Queued }
            }
            n = from.read(buf) => match n {
                Ok(0) | Err(_) => self.end_of_stream(to).await,
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        self.ending.send_replace(Ending::Close);
                        return Next::Finish(Ending::Close);
                    }
                    self.passed += n as u64;
                    Next::Direct
                }
            },
        }
    }

    /// The queued path: a reader stamps chunks as they arrive while the effects delay, pace,
    /// hold, cut or drop them on their way out. Returns to the direct path once no rule acts
    /// and the queue is empty, so no byte overtakes another.
    async fn queued(
        &mut self,
        from: &mut OwnedReadHalf,
        to: &mut OwnedWriteHalf,
        buf: &mut [u8],
    ) -> Next {
        let (tx, mut chunks) = mpsc::channel(QUEUE);
        let reader = async {
            read(from, tx, buf).await;
            // Its end shows as the queue's; stay pending so the writer decides when to stop.
            std::future::pending::<()>().await;
        };
        let writer = async {
            let mut ending = self.ending.subscribe();
            loop {
                let active = self.active();
                if active.is_empty() && chunks.is_empty() {
                    return Next::Direct;
                }
                let deadline = self.deadline();
                // Biased, the early end first: when it comes, the other stream stops too, and
                // its end must not pass for an end of stream (a FIN, not an RST).
                tokio::select! {
                    biased;
                    how = ended(&mut ending) => return Next::Finish(how),
                    changed = self.rules.changed() => if changed.is_err() { return Next::Done },
                    () = sleep_until(deadline.map(|(at, _)| at)), if deadline.is_some() => {
                        let how = deadline.map_or(Ending::Close, |(_, how)| how);
                        self.ending.send_replace(how);
                        return Next::Finish(how);
                    }
                    chunk = chunks.recv() => match chunk {
                        None => return self.end_of_stream(to).await,
                        Some((arrived, bytes)) => {
                            if !self.deliver(&active, arrived, bytes, to).await {
                                self.ending.send_replace(Ending::Close);
                                return Next::Finish(Ending::Close);
                            }
                        }
                    },
                }
            }
        };
        tokio::select! {
            next = writer => next,
            () = reader => Next::Done,
        }
    }

    /// End of stream: slow_close holds the FIN back.
    async fn end_of_stream(&mut self, to: &mut OwnedWriteHalf) -> Next {
        let delay: Duration = self
            .active()
            .iter()
            .map(|e| match e {
                Effect::SlowClose(delay) => *delay,
                _ => Duration::ZERO,
            })
            .sum();
        tokio::time::sleep(delay).await;
        let _ = to.shutdown().await;
        Next::Done
    }

    /// Passes one chunk through the effects in order; false when the connection must close.
    async fn deliver(
        &mut self,
        active: &[Effect],
        arrived: Instant,
        mut bytes: Vec<u8>,
        to: &mut OwnedWriteHalf,
    ) -> bool {
        let mut close = false;
        // When the chunk is due: its arrival, plus a latency, plus a loss's stall.
        let mut due = arrived;
        for effect in active {
            match *effect {
                // No data gets through while a timeout is on.
                Effect::Timeout(_) => return true,
                Effect::Latency { latency, jitter } => {
                    let spread = jitter.as_secs_f64() * (2.0 * self.rng.f64() - 1.0);
                    let delay = (latency.as_secs_f64() + spread).max(0.0);
                    due = arrived + Duration::from_secs_f64(delay);
                    tokio::time::sleep_until(due).await;
                }
                Effect::RetransmitLoss { percent, stall } => {
                    if self.rng.f64() * 100.0 < percent {
                        due += stall;
                        tokio::time::sleep_until(due).await;
                    }
                }
                Effect::Bandwidth { bytes_per_sec } if bytes_per_sec > 0.0 => {
                    // From when the chunk was due, not from now: a timer that wakes late
                    // then delays this chunk only, not every one after it.
                    let start = self.bandwidth_free.max(due);
                    let take = Duration::from_secs_f64(bytes.len() as f64 / bytes_per_sec);
                    self.bandwidth_free = start + take;
                    tokio::time::sleep_until(self.bandwidth_free).await;
                }
                Effect::Partition => {
                    let stream = self.stream;
                    let mut gate = self.rules.clone();
                    if gate
                        .wait_for(|r| !partitioned(r, Some(stream)))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                Effect::LimitData(limit) => {
                    let left = limit.saturating_sub(self.passed);
                    if bytes.len() as u64 >= left {
                        bytes.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                        close = true;
                    }
                }
                Effect::Bandwidth { .. } | Effect::SlowClose(_) | Effect::ResetPeer(_) => {}
            }
        }
        if to.write_all(&bytes).await.is_err() {
            return false;
        }
        self.passed += bytes.len() as u64;
        !close
    }
}

/// Ends this half's socket. A reset sets a zero linger and skips the FIN a dropped write half
/// sends, so the close (once the read half goes too) is an RST.
fn finish(to: OwnedWriteHalf, how: Ending) {
    if how == Ending::Reset {
        let _ = to.as_ref().set_zero_linger();
        to.forget();
    }
}

/// Waits for the connection to end early, and says how.
async fn ended(ending: &mut watch::Receiver<Ending>) -> Ending {
    match ending.wait_for(|e| *e != Ending::Open).await {
        Ok(how) => *how,
        // The sender lives in the connection; gone means the connection is.
        Err(_) => Ending::Close,
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}
