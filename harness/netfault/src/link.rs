//! A device's link at the packet level: two network namespaces, each with a TUN device, and the
//! engine between them that reads every packet from one side and writes it to the other after
//! the shaper has decided its fate.
//!
//! TUN rather than veth plus a queue discipline: with a TUN the packet passes through rigor's own
//! code, so every impairment works on a kernel without `sch_netem` (this one) and the counters
//! say exactly what was done to which packet.

use std::io::IoSlice;
use std::net::Ipv4Addr;
use std::sync::Arc;

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tun_rs::{AsyncDevice, DeviceBuilder};

use crate::dns;
use crate::error::NetfaultError;
use crate::frame;
use crate::icmp;
use crate::impairment::{DnsFailure, PacketImpairment};
use crate::netns;
use crate::release::Release;
use crate::shaper::{DirectionStats, Shaper};

/// Packets the kernel may queue towards the engine before it drops (a TUN's default is 500,
/// which a burst from a test or a firmware update overruns before the engine is scheduled).
const TUN_QUEUE: u32 = 10_000;

/// Frames read before the counters are published (and other tasks get a turn).
const BATCH: usize = 64;

/// How to build a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// The link's name: namespace names derive from it, and its TUN devices take it.
    pub name: String,
    /// The device side's address.
    pub device_addr: Ipv4Addr,
    /// The network side's address (the device's peer, gateway and resolver).
    pub network_addr: Ipv4Addr,
    /// The TUN devices' MTU.
    pub mtu: u16,
}

impl LinkConfig {
    /// A link named `name` between 10.99.`n`.1 (device) and 10.99.`n`.2 (network).
    pub fn numbered(name: impl Into<String>, n: u8) -> Self {
        Self {
            name: name.into(),
            device_addr: Ipv4Addr::new(10, 99, n, 1),
            network_addr: Ipv4Addr::new(10, 99, n, 2),
            mtu: 1500,
        }
    }
}

/// What a link did to its traffic so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Device to network.
    pub up: DirectionStats,
    /// Network to device.
    pub down: DirectionStats,
    /// DNS queries answered with SERVFAIL.
    pub dns_servfail: u64,
    /// DNS queries left unanswered.
    pub dns_dropped: u64,
}

/// A running packet-level link; dropping it removes its namespaces and everything in them.
pub struct PacketLink {
    device_ns: String,
    network_ns: String,
    interface: String,
    impairment: watch::Sender<PacketImpairment>,
    stats: Arc<watch::Sender<LinkStats>>,
    tasks: Vec<JoinHandle<()>>,
}

impl PacketLink {
    /// Creates the namespaces and TUN devices and starts the engine on the current tokio
    /// runtime. First removes what dead rigor processes left behind ([`netns::sweep`]).
    pub async fn open(config: &LinkConfig) -> Result<Self, NetfaultError> {
        check_interface_name(&config.name)?;
        netns::sweep_once()?;
        let device_ns = netns::owned_name(&format!("{}-dev", config.name));
        let network_ns = netns::owned_name(&format!("{}-net", config.name));
        let (impairment, _) = watch::channel(PacketImpairment::default());
        let mut link = Self {
            device_ns,
            network_ns,
            interface: config.name.clone(),
            impairment,
            stats: Arc::new(watch::channel(LinkStats::default()).0),
            tasks: Vec::new(),
        };
        // From here a failure drops `link`, which deletes whatever was made.
        let device = link.side(&link.device_ns.clone(), config, true)?;
        let network = link.side(&link.network_ns.clone(), config, false)?;
        let (device, network) = (Arc::new(device), Arc::new(network));
        let seed = fastrand::u64(..);
        for (from, to, up) in [
            (device.clone(), network.clone(), true),
            (network, device, false),
        ] {
            let engine = Engine {
                from,
                to,
                up,
                impairment: link.impairment.subscribe(),
                stats: link.stats.clone(),
                shaper: Shaper::new(seed ^ u64::from(up)),
                mtu: config.mtu,
                delivered: 0,
            };
            link.tasks.push(tokio::spawn(engine.run()));
        }
        Ok(link)
    }

    /// Makes one namespace and its TUN device, addressed towards the other side.
    fn side(
        &self,
        ns: &str,
        config: &LinkConfig,
        device_side: bool,
    ) -> Result<AsyncDevice, NetfaultError> {
        netns::create(ns)?;
        let (local, peer) = if device_side {
            (config.device_addr, config.network_addr)
        } else {
            (config.network_addr, config.device_addr)
        };
        let name = config.name.clone();
        let mtu = config.mtu;
        let sync = netns::in_namespace(ns, move || {
            DeviceBuilder::new()
                .name(&name)
                .mtu(mtu)
                .tx_queue_len(TUN_QUEUE)
                // Whole GSO frames behind a virtio-net header (see `frame`).
                .offload(true)
                // Up only once IPv6 autoconfiguration is off (below).
                .enable(false)
                .build_sync()
                .map_err(|source| NetfaultError::Tun { name, source })
        })??;
        let device = AsyncDevice::new(sync).map_err(|source| NetfaultError::Tun {
            name: config.name.clone(),
            source,
        })?;
        let (local, peer) = (local.to_string(), peer.to_string());
        let iface = config.name.as_str();
        netns::run(
            "ip",
            &["-n", ns, "addr", "add", &local, "peer", &peer, "dev", iface],
        )?;
        // No IPv6 on the link (rig addresses are IPv4): its router solicitations and multicast
        // reports, sent up to a second after link-up, would cross the link and show in the
        // counters as traffic nobody sent.
        let key = format!("net.ipv6.conf.{iface}.disable_ipv6=1");
        netns::run("ip", &["netns", "exec", ns, "sysctl", "-qw", &key])?;
        netns::run(
            "ip",
            &["-n", ns, "link", "set", iface, "addrgenmode", "none", "up"],
        )?;
        Ok(device)
    }

    /// The namespace the device's traffic starts in (where a simulated device runs).
    pub fn device_namespace(&self) -> &str {
        &self.device_ns
    }

    /// The namespace on the network side (where the device's servers and resolver run).
    pub fn network_namespace(&self) -> &str {
        &self.network_ns
    }

    /// The TUN interface's name in both namespaces.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Applies `impairment` to packets read from now on, replacing any before it.
    pub fn set(&self, impairment: PacketImpairment) {
        self.impairment.send_replace(impairment);
    }

    /// What the link has done so far.
    pub fn stats(&self) -> LinkStats {
        *self.stats.borrow()
    }

    /// Waits until the link's counters satisfy `condition` (say, until the engine has read the
    /// packets already sent, before changing the impairment they should meet).
    pub async fn until(&self, condition: impl FnMut(&LinkStats) -> bool) {
        let mut stats = self.stats.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = stats.wait_for(condition).await;
    }
}

impl Drop for PacketLink {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // Nothing to report to from a drop; a namespace left here is swept at the next start.
        let _ = netns::delete(&self.device_ns);
        let _ = netns::delete(&self.network_ns);
    }
}

#[async_trait]
impl NetImpairment for PacketLink {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        self.set(PacketImpairment::from(impairment));
        Ok(())
    }
    async fn clear(&self) -> Result<(), HalError> {
        self.set(PacketImpairment::default());
        Ok(())
    }
}

/// The kernel's rule for interface names (IFNAMSIZ less the NUL, no `/` or whitespace).
pub(crate) fn check_interface_name(name: &str) -> Result<(), NetfaultError> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\t', '\n']) {
        return Err(NetfaultError::BadInterfaceName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// One direction of the engine: reads and shapes here, on the runtime; writes what is delayed
/// from a [`Release`] thread.
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
