//! The engine between a link's two TUN devices: one thread per link, at real-time priority
//! where the OS grants it ([`realtime`]), runs a single-threaded runtime with a task per
//! direction that reads frames, passes them whole or has the shaper decide each packet's fate,
//! and writes them to the far side now or from a [`Release`] thread at their due time.
//!
//! A thread of its own rather than the caller's runtime: the wake-up on a packet's arrival stamps
//! the time its delay counts from, and a runtime's worker, shared with the caller's tasks and
//! at ordinary priority, woke late by a millisecond or more on a loaded machine.

use std::io::IoSlice;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tun_rs::{AsyncDevice, SyncDevice};

use crate::dns;
use crate::error::NetfaultError;
use crate::frame;
use crate::icmp;
use crate::impairment::{DnsFailure, PacketImpairment};
use crate::link::LinkStats;
use crate::realtime;
use crate::release::Release;
use crate::shaper::{DirectionStats, Shaper};

/// Frames read before the counters are published (and other tasks get a turn).
const BATCH: usize = 64;

/// A link's running engine; dropping it stops the engine (packets in flight are lost, as on a
/// link that goes away).
pub(crate) struct EngineThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineThread {
    /// Starts the engine between `device` and `network` (the link named `name`, whose packets
    /// are at most `mtu` bytes): impaired as `impairment` says, counted into `stats`.
    pub(crate) async fn start(
        name: &str,
        (device, network): (SyncDevice, SyncDevice),
        mtu: u16,
        impairment: &watch::Sender<PacketImpairment>,
        stats: &Arc<watch::Sender<LinkStats>>,
    ) -> Result<Self, NetfaultError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let seed = fastrand::u64(..);
        let engine = |up: bool| {
            let impairment = impairment.subscribe();
            let stats = stats.clone();
            move |from: Arc<AsyncDevice>, to: Arc<AsyncDevice>| Engine {
                from,
                to,
                up,
                impairment,
                stats,
                shaper: Shaper::new(seed ^ u64::from(up)),
                mtu,
                delivered: 0,
            }
        };
        let (up, down) = (engine(true), engine(false));
        let link = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("rg-engine-{name}"))
            .spawn(move || {
                realtime::raise();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(NetfaultError::io("starting the engine", e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    // The devices join this runtime's reactor: their readiness wakes this thread.
                    let devices = AsyncDevice::new(device)
                        .and_then(|device| Ok((device, AsyncDevice::new(network)?)));
                    let (device, network) = match devices {
                        Ok((device, network)) => (Arc::new(device), Arc::new(network)),
                        Err(source) => {
                            let _ = ready_tx.send(Err(NetfaultError::Tun { name: link, source }));
                            return;
                        }
                    };
                    tokio::spawn(up(device.clone(), network.clone()).run());
                    tokio::spawn(down(network, device).run());
                    let _ = ready_tx.send(Ok(()));
                    // Until the link is dropped; the tasks end with the runtime.
                    let _ = stopped.await;
                });
            })
            .map_err(|e| NetfaultError::io("starting the engine's thread", e))?;
        let started = Self {
            stop: Some(stop),
            thread: Some(thread),
        };
        match ready_rx.await {
            Ok(Ok(())) => Ok(started),
            Ok(Err(e)) => Err(e),
            // Every other way out of the thread says why first: it panicked.
            Err(_) => Err(NetfaultError::io(
                "starting the engine",
                std::io::Error::other("the engine's thread panicked"),
            )),
        }
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            // The runtime ends at once when told to: this waits for its tasks to be dropped,
            // so the namespaces are deleted under no running engine.
            let _ = thread.join();
        }
    }
}

/// One direction of the engine: reads and shapes here, on the engine thread's runtime; writes
/// what is delayed from a [`Release`] thread.
struct Engine {
    from: Arc<AsyncDevice>,
    to: Arc<AsyncDevice>,
    up: bool,
    impairment: watch::Receiver<PacketImpairment>,
    stats: Arc<watch::Sender<LinkStats>>,
    shaper: Shaper,
    /// The link's MTU: no segment read is longer.
    mtu: u16,
    /// Packets written here since the last publication.
    delivered: u64,
}

/// Counts `packets` delivered in one direction.
fn count_delivered(stats: &watch::Sender<LinkStats>, up: bool, packets: u64) {
    stats.send_modify(|s| {
        if up {
            s.up.delivered += packets;
        } else {
            s.down.delivered += packets;
        }
    });
}

/// Whether a failed read means the device is gone (an error from the kernel) rather than a
/// frame tun-rs could not cut (an error it made: the frame is dropped, the link goes on).
fn device_gone(e: &std::io::Error) -> bool {
    e.raw_os_error().is_some()
}

impl Engine {
    async fn run(mut self) {
        let stats = self.stats.clone();
        let up = self.up;
        let name = if up { "up" } else { "down" };
        let Ok(release) = Release::spawn(name, self.to.clone(), move |packets| {
            count_delivered(&stats, up, packets);
        }) else {
            // No thread for delayed packets: the link carries nothing, as a cut cable.
            return;
        };
        let mut frame = vec![0u8; frame::MAX_FRAME];
        let mut segments = vec![vec![0u8; usize::from(self.mtu)]; frame::MAX_SEGMENTS];
        let mut sizes = vec![0usize; frame::MAX_SEGMENTS];
        let mut imp = self.impairment.borrow_and_update().clone();
        loop {
            if self.from.readable().await.is_err() {
                return;
            }
            // Frames already queued are taken without waiting, and the counters published once
            // for the batch: a watch update per packet costs more than forwarding it.
            for _ in 0..BATCH {
                if self.impairment.has_changed().unwrap_or(false) {
                    imp = self.impairment.borrow_and_update().clone();
                }
                // How to read depends on the impairment: chosen before each read, so a change
                // applies from the next frame on.
                let direction = if up { &imp.up } else { &imp.down };
                let read = if direction.is_clear() {
                    self.from.try_recv(&mut frame).map(Read::Frame)
                } else {
                    self.from
                        .try_recv_multiple(&mut frame, &mut segments, &mut sizes, 0)
                        .map(Read::Segments)
                };
                match read {
                    Ok(Read::Frame(n)) => self.pass(&imp, &frame[..n], &release).await,
                    Ok(Read::Segments(k)) => {
                        for (segment, size) in segments.iter().zip(&sizes).take(k) {
                            self.forward(&imp, &segment[..*size], &release).await;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if device_gone(&e) => return,
                    Err(_) => self.shaper.stats.received += 1,
                }
            }
            self.publish();
        }
    }

    /// Moves a frame of an unimpaired direction across whole (a GSO frame stays one write),
    /// unless it is a DNS query the link's resolver fails; behind the release thread's queue
    /// while packets of an earlier impairment are still in flight, to keep order.
    async fn pass(&mut self, imp: &PacketImpairment, frame: &[u8], release: &Release) {
        let packet = frame.get(frame::HDR..).unwrap_or_default();
        if self.up
            && let Some(failure) = imp.dns
            && dns::is_query(packet)
        {
            self.fail_dns(failure, packet).await;
            return;
        }
        let packets = frame::packets(frame);
        self.shaper.stats.received += packets;
        if release.pending() == 0 {
            // A write the kernel refuses (the interface going down) is a lost packet.
            if self.to.send(frame).await.is_ok() {
                self.delivered += packets;
            }
        } else {
            release.send(std::time::Instant::now(), frame.to_vec(), packets);
        }
    }

    /// Passes one packet of an impaired direction through the shaper.
    async fn forward(&mut self, imp: &PacketImpairment, packet: &[u8], release: &Release) {
        let now = Instant::now();
        if self.up
            && let Some(failure) = imp.dns
            && dns::is_query(packet)
        {
            self.fail_dns(failure, packet).await;
            return;
        }
        let direction = if self.up { &imp.up } else { &imp.down };
        if let Some(mtu) = direction.mtu.filter(|mtu| packet.len() > *mtu)
            && !direction.partition
            && let Some(answer) = icmp::frag_needed(packet, mtu)
        {
            // The shaper drops and counts it; the sender hears why.
            let _ = send_plain(&self.from, &answer).await;
        }
        for (at, packet) in self.shaper.shape(direction, now, packet.to_vec()) {
            if at <= now && release.pending() == 0 {
                if send_plain(&self.to, &packet).await.is_ok() {
                    self.delivered += 1;
                }
            } else {
                let mut framed = Vec::with_capacity(frame::HDR + packet.len());
                framed.extend_from_slice(&frame::PLAIN);
                framed.extend_from_slice(&packet);
                release.send(at.into_std(), framed, 1);
            }
        }
    }

    async fn fail_dns(&mut self, failure: DnsFailure, query: &[u8]) {
        self.stats.send_modify(|stats| match failure {
            DnsFailure::NoAnswer => stats.dns_dropped += 1,
            DnsFailure::ServFail => stats.dns_servfail += 1,
        });
        if failure == DnsFailure::ServFail
            && let Some(answer) = dns::servfail(query)
        {
            let _ = send_plain(&self.from, &answer).await;
        }
    }

    /// Publishes the shaper's counters and the packets this side delivered (the release
    /// thread counts its own).
    fn publish(&mut self) {
        let mine = self.shaper.stats;
        let delivered = std::mem::take(&mut self.delivered);
        self.stats.send_if_modified(|stats| {
            let slot = if self.up {
                &mut stats.up
            } else {
                &mut stats.down
            };
            let next = DirectionStats {
                delivered: slot.delivered + delivered,
                ..mine
            };
            let changed = *slot != next;
            *slot = next;
            changed
        });
    }
}

/// What one read brought.
enum Read {
    /// A frame, header included, of this many bytes.
    Frame(usize),
    /// This many packets, cut from one frame.
    Segments(usize),
}

/// Writes a packet rigor built or shaped, behind a plain header.
async fn send_plain(to: &AsyncDevice, packet: &[u8]) -> std::io::Result<usize> {
    to.send_vectored(&[IoSlice::new(&frame::PLAIN), IoSlice::new(packet)])
        .await
}
