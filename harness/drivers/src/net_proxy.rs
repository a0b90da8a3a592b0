//! A userspace TCP proxy that impairs a device's traffic: the impairment point of rigs without
//! kernel netem (this machine's kernel lacks it) and of the virtual bench.
//!
//! The device's endpoint resolves to the proxy; the proxy forwards to the real upstream. Over a
//! byte stream, impairments show as the application would see them through TCP: latency and
//! jitter delay each chunk (order kept); loss shows as retransmission stalls (a lost segment
//! costs a retransmission timeout); a bandwidth cap paces chunks; a partition holds all traffic
//! (a cut cable: nothing arrives, connections stall) until it is lifted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What a lost segment costs: TCP's minimum retransmission timeout.
const RETRANSMIT_PENALTY: Duration = Duration::from_millis(200);

/// A running impairment proxy.
pub struct ImpairmentProxy {
    local: SocketAddr,
    upstream: String,
    impairment: Arc<watch::Sender<Impairment>>,
    task: tokio::task::JoinHandle<()>,
}

impl ImpairmentProxy {
    /// Listens on `listen` and forwards each connection to `upstream` (`host:port`).
    pub async fn start(listen: SocketAddr, upstream: impl Into<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let upstream = upstream.into();
        let (tx, rx) = watch::channel(Impairment::default());
        let task = tokio::spawn(accept(listener, upstream.clone(), rx));
        Ok(Self {
            local,
            upstream,
            impairment: Arc::new(tx),
            task,
        })
    }

    /// Another way through the same link: listens on `listen` and forwards to `upstream`, under
    /// the impairments of this proxy (applied through either), as a netem box impairs every
    /// destination of a device alike.
    pub async fn sibling(
        &self,
        listen: SocketAddr,
        upstream: impl Into<String>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let upstream = upstream.into();
        let task = tokio::spawn(accept(
            listener,
            upstream.clone(),
            self.impairment.subscribe(),
        ));
        Ok(Self {
            local,
            upstream,
            impairment: self.impairment.clone(),
            task,
        })
    }

    /// Where the proxy listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What it forwards to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
}

impl Drop for ImpairmentProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl NetImpairment for ImpairmentProxy {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        self.impairment.send_replace(impairment.clone());
        Ok(())
    }
    async fn clear(&self) -> Result<(), HalError> {
        self.impairment.send_replace(Impairment::default());
        Ok(())
    }
}

async fn accept(listener: TcpListener, upstream: String, impairment: watch::Receiver<Impairment>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let (upstream, impairment) = (upstream.clone(), impairment.clone());
        connections.spawn(async move {
            // A partition also stalls connection set-up, as lost SYNs would.
            let mut gate = impairment.clone();
            let _ = gate.wait_for(|i| !i.partition).await;
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(pump(cr, sw, impairment.clone()), pump(sr, cw, impairment));
        });
    }
}

/// Large direct reads: each costs a read and a write, so fewer is faster.
const DIRECT_CHUNK: usize = 256 * 1024;
/// Smaller reads on the impaired path, so a bandwidth cap paces finely.
const IMPAIRED_CHUNK: usize = 16 * 1024;

/// Whether `i` changes nothing, so bytes may skip the delivery queue.
fn is_clear(i: &Impairment) -> bool {
    let zero = |d: Option<Duration>| d.is_none_or(|d| d.is_zero());
    zero(i.latency)
        && zero(i.jitter)
        && i.loss_percent.is_none_or(|p| p <= 0.0)
        && i.bandwidth_kbps.is_none_or(|k| k == 0)
        && !i.partition
}

/// Moves bytes one way until the stream ends: straight through while the link is clear, through
/// a delivery queue while it is impaired, switching as impairments come and go.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut impairment: watch::Receiver<Impairment>,
) {
    let mut buf = vec![0u8; DIRECT_CHUNK];
    loop {
        let clear = is_clear(&impairment.borrow_and_update());
        let go_on = if clear {
            direct(&mut from, &mut to, &mut impairment, &mut buf).await
        } else {
            impaired(&mut from, &mut to, &impairment, &mut buf[..IMPAIRED_CHUNK]).await
        };
        if !go_on {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The clear link's path: one buffer, no queue. Returns true when the impairment changes, false
/// when the stream ends.
async fn direct(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    impairment: &mut watch::Receiver<Impairment>,
    buf: &mut [u8],
) -> bool {
    loop {
        tokio::select! {
            changed = impairment.changed() => return changed.is_ok(),
            n = from.read(buf) => match n {
                Ok(0) | Err(_) => return false,
                Ok(n) => if to.write_all(&buf[..n]).await.is_err() {
                    return false;
                },
            },
        }
    }
}

/// The impaired path: a reader stamps each chunk with its delivery time, a writer delivers it
/// then, holding everything while the link is partitioned. Returns true once the link is clear
/// and everything queued is delivered (bytes never overtake each other), false when the stream
/// ends.
async fn impaired(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    impairment: &watch::Receiver<Impairment>,
    buf: &mut [u8],
) -> bool {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let stamps = impairment.clone();
    // Cancel-safe (its one await is a socket read, which loses nothing when dropped unfinished),
    // so dropping it when the link clears loses no byte.
    let reader = async move {
        let mut last_delivery = Instant::now();
        let mut rng = fastrand::Rng::new();
        loop {
            let n = match from.read(buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let imp = stamps.borrow().clone();
            let now = Instant::now();
            let mut delay = imp.latency.unwrap_or_default();
            if let Some(j) = imp.jitter {
                delay += j.mul_f64(rng.f64());
            }
            if let Some(p) = imp.loss_percent
                && rng.f64() * 100.0 < p
            {
                delay += RETRANSMIT_PENALTY.max(imp.latency.unwrap_or_default() * 2);
            }
            // Order is kept: a chunk never overtakes the one before it.
            let mut at = (now + delay).max(last_delivery);
            if let Some(kbps) = imp.bandwidth_kbps.filter(|k| *k > 0) {
                at += Duration::from_secs_f64(n as f64 * 8.0 / (f64::from(kbps) * 1000.0));
            }
            last_delivery = at;
            if tx.send((at, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        // The end of stream shows as the queue's; the writer decides when to stop.
        std::future::pending::<()>().await;
    };
    let mut partition = impairment.clone();
    let mut clear = impairment.clone();
    let writer = async move {
        loop {
            let next = tokio::select! {
                biased;
                next = rx.recv() => next,
                // Back to the direct path only with nothing queued, and never mid-delivery.
                Ok(_) = clear.wait_for(is_clear), if rx.is_empty() => return true,
            };
            let Some((at, bytes)) = next else {
                return false;
            };
            tokio::time::sleep_until(at).await;
            if partition.wait_for(|i| !i.partition).await.is_err() {
                return false;
            }
            if to.write_all(&bytes).await.is_err() {
                return false;
            }
        }
    };
    tokio::select! {
        go_on = writer => go_on,
        () = reader => false,
    }
}
