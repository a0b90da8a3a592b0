//! A TCP proxy whose two streams pass through toxics: per connection, a reader per direction
//! stamps chunks as they arrive and a writer applies the toxics before passing them on, so a
//! latency delays each chunk from its arrival (pipelined, as toxiproxy's does) rather than
//! adding up chunk after chunk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::toxic::{Stream, Toxic, ToxicKind};

/// How a connection ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Open,
    /// Closed with FIN (a timeout, a data limit).
    Close,
    /// Closed with RST (reset_peer).
    Reset,
}

/// A listening proxy; dropping it (or [`ToxicProxy::disable`]) closes its connections.
pub struct ToxicProxy {
    listen: SocketAddr,
    upstream: String,
    toxics: Arc<watch::Sender<Vec<Toxic>>>,
    task: Option<JoinHandle<()>>,
}

impl ToxicProxy {
    /// Listens on `listen` and forwards every connection to `upstream` (`host:port`).
    pub async fn start(listen: &str, upstream: &str) -> std::io::Result<Self> {
        let mut proxy = Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: upstream.to_owned(),
            toxics: Arc::new(watch::channel(Vec::new()).0),
            task: None,
        };
        proxy.bind(listen).await?;
        Ok(proxy)
    }

    async fn bind(&mut self, listen: &str) -> std::io::Result<()> {
        let listener = TcpListener::bind(listen).await?;
        self.listen = listener.local_addr()?;
        let toxics = self.toxics.clone();
        self.task = Some(tokio::spawn(accept(
            listener,
            self.upstream.clone(),
            toxics,
        )));
        Ok(())
    }

    /// Where it listens (the port chosen, if `:0` was asked).
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Where it forwards to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Whether it is listening.
    pub fn enabled(&self) -> bool {
        self.task.is_some()
    }

    /// Stops listening and closes every connection; returns once the listener is closed, so a
    /// client told "disabled" is refused, not accepted and then reset.
    pub async fn disable(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // An aborted task's handle resolves once the task (and its listener) is dropped.
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn enable(&mut self) -> std::io::Result<()> {
        if self.task.is_none() {
            self.bind(&self.listen.to_string()).await?;
        }
        Ok(())
    }

    /// Moves the proxy to another address or upstream (closing its connections).
    pub async fn rebind(&mut self, listen: &str, upstream: &str) -> std::io::Result<()> {
        let was_enabled = self.enabled();
        self.disable().await;
        self.upstream = upstream.to_owned();
        if was_enabled {
            self.bind(listen).await?;
        } else {
            self.listen = listen.parse().unwrap_or(self.listen);
        }
        Ok(())
    }

    /// Its toxics, in the order they act.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.toxics.borrow().clone()
    }

    /// Changes its toxics; connections open now see the change.
    pub fn set_toxics(&self, f: impl FnOnce(&mut Vec<Toxic>)) {
        self.toxics.send_modify(f);
    }
}

impl Drop for ToxicProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, upstream: String, toxics: Arc<watch::Sender<Vec<Toxic>>>) {
    // Aborting this task drops the set, which aborts every connection in it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { return };
                connections.spawn(connection(client, upstream.clone(), toxics.subscribe()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(client: TcpStream, upstream: String, toxics: watch::Receiver<Vec<Toxic>>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (ending, _) = watch::channel(Ending::Open);
    let ending = Arc::new(ending);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = Writer::new(Stream::Upstream, toxics.clone(), ending.clone());
    let down = Writer::new(Stream::Downstream, toxics, ending);
    tokio::join!(up.run(cr, sw), down.run(sr, cw));
}

/// Large reads: on a fast path each chunk costs a channel hop and a write, so fewer is faster.
const CHUNK: usize = 256 * 1024;

/// What a stream does after a stretch of its life.
enum Next {
    /// No toxic acts on it and nothing is queued: bytes go straight through.
    Direct,
    /// Toxics act on it: chunks go through the queue.
    Toxic,
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

/// One stream's toxics at work.
struct Writer {
    stream: Stream,
    toxics: watch::Receiver<Vec<Toxic>>,
    ending: Arc<watch::Sender<Ending>>,
    rng: fastrand::Rng,
    /// Per toxic: whether it acts on this connection (its toxicity, drawn once) and when this
    /// connection first saw it (timeouts count from then).
    seen: HashMap<String, (bool, Instant)>,
    passed: u64,
    bandwidth_free: Instant,
}

impl Writer {
    fn new(
        stream: Stream,
        toxics: watch::Receiver<Vec<Toxic>>,
        ending: Arc<watch::Sender<Ending>>,
    ) -> Self {
        Self {
            stream,
            toxics,
            ending,
            rng: fastrand::Rng::new(),
            seen: HashMap::new(),
            passed: 0,
            bandwidth_free: Instant::now(),
        }
    }

    /// The toxics acting on this stream of this connection now.
    fn active(&mut self) -> Vec<ToxicKind> {
        let toxics = self.toxics.borrow_and_update().clone();
        let mut out = Vec::new();
        for t in toxics.into_iter().filter(|t| t.stream == self.stream) {
            let rng = &mut self.rng;
            let (acts, _) = *self
                .seen
                .entry(t.name.clone())
                .or_insert_with(|| (rng.f64() < t.toxicity, Instant::now()));
            if acts {
                out.push(t.kind);
            }
        }
        out
    }

    /// When a timeout or reset_peer ends the connection, and how.
    fn deadline(&self) -> Option<(Instant, Ending)> {
        let toxics = self.toxics.borrow();
        toxics
            .iter()
            .filter(|t| t.stream == self.stream)
            .filter_map(|t| {
                let (acts, since) = self.seen.get(&t.name)?;
                let at = |ms: u64| *since + Duration::from_millis(ms);
                match t.kind {
                    ToxicKind::Timeout { timeout } if *acts && timeout > 0 => {
                        Some((at(timeout), Ending::Close))
                    }
                    ToxicKind::ResetPeer { timeout } if *acts => Some((at(timeout), Ending::Reset)),
                    _ => None,
                }
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Moves one stream from `from` to `to` until it ends, switching between the direct path
    /// (while no toxic acts on it) and the queue (while one does) as toxics come and go.
    async fn run(mut self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
        let mut buf = vec![0u8; CHUNK];
        let mut next = Next::Toxic;
        loop {
            next = match next {
                Next::Direct => self.direct(&mut from, &mut to, &mut buf).await,
                Next::Toxic if self.active().is_empty() => Next::Direct,
                Next::Toxic => self.queued(&mut from, &mut to, &mut buf).await,
                Next::Done => return,
                Next::Finish(how) => return finish(to, how),
            };
        }
    }

    /// The direct path, one buffer and no copies beyond the socket's own: without toxics the
    /// proxy should cost as little of the link's throughput as it can. Returns when the toxics
    /// change (to look again at which act) or the stream ends.
    async fn direct(
        &mut self,
        from: &mut OwnedReadHalf,
        to: &mut OwnedWriteHalf,
        buf: &mut [u8],
    ) -> Next {
        let mut ending = self.ending.subscribe();
        tokio::select! {
            biased;
            how = ended(&mut ending) => Next::Finish(how),
            changed = self.toxics.changed() => {
                if changed.is_err() { Next::Done } else { Next::Toxic }
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

    /// The queued path: a reader stamps chunks as they arrive while the toxics delay, pace, cut
    /// or drop them on their way out. Returns to the direct path once no toxic acts and the
    /// queue is empty, so no byte overtakes another.
    async fn queued(
        &mut self,
        from: &mut OwnedReadHalf,
        to: &mut OwnedWriteHalf,
        buf: &mut [u8],
    ) -> Next {
        let (tx, mut chunks) = mpsc::channel(64);
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
                    changed = self.toxics.changed() => if changed.is_err() { return Next::Done },
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
        let delay: u64 = self
            .active()
            .iter()
            .map(|k| match k {
                ToxicKind::SlowClose { delay } => *delay,
                _ => 0,
            })
            .sum();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let _ = to.shutdown().await;
        Next::Done
    }

    /// Passes one chunk through the toxics in order; false when the connection must close.
    async fn deliver(
        &mut self,
        active: &[ToxicKind],
        arrived: Instant,
        mut bytes: Vec<u8>,
        to: &mut OwnedWriteHalf,
    ) -> bool {
        let mut close = false;
        for kind in active {
            match *kind {
                // No data gets through while a timeout toxic is on.
                ToxicKind::Timeout { .. } => return true,
                ToxicKind::Latency { latency, jitter } => {
                    let jitter = jitter as f64 * (2.0 * self.rng.f64() - 1.0);
                    let ms = (latency as f64 + jitter).max(0.0);
                    tokio::time::sleep_until(arrived + Duration::from_secs_f64(ms / 1e3)).await;
                }
                ToxicKind::Bandwidth { rate } if rate > 0 => {
                    let start = self.bandwidth_free.max(Instant::now());
                    let take = Duration::from_secs_f64(bytes.len() as f64 / (rate as f64 * 1e3));
                    self.bandwidth_free = start + take;
                    tokio::time::sleep_until(self.bandwidth_free).await;
                }
                ToxicKind::LimitData { bytes: limit } => {
                    let left = limit.saturating_sub(self.passed);
                    if bytes.len() as u64 >= left {
                        bytes.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                        close = true;
                    }
                }
                ToxicKind::Bandwidth { .. }
                | ToxicKind::SlowClose { .. }
                | ToxicKind::ResetPeer { .. } => {}
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

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
