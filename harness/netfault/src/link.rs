//! A device's link at the packet level: two network namespaces, each with a TUN device, and the
//! engine between them that reads every packet from one side and writes it to the other after
//! the shaper has decided its fate.
//!
//! TUN rather than veth plus a queue discipline: with a TUN the packet passes through rigor's own
//! code, so every impairment works on a kernel without `sch_netem` (this one) and the counters
//! say exactly what was done to which packet.

use std::net::Ipv4Addr;
use std::sync::Arc;

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};
use tokio::sync::watch;
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::engine::EngineThread;
use crate::error::NetfaultError;
use crate::impairment::PacketImpairment;
use crate::netns;
use crate::shaper::DirectionStats;

/// Packets the kernel may queue towards the engine before it drops (a TUN's default is 500,
/// which a burst from a test or a firmware update overruns before the engine is scheduled).
const TUN_QUEUE: u32 = 10_000;

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
    /// `None` only while opening.
    engine: Option<EngineThread>,
}

impl PacketLink {
    /// Creates the namespaces and TUN devices and starts the engine on a thread of its own.
    /// First removes what dead rigor processes left behind ([`netns::sweep`]).
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
            engine: None,
        };
        // From here a failure drops `link`, which deletes whatever was made.
        let device = link.side(&link.device_ns.clone(), config, true)?;
        let network = link.side(&link.network_ns.clone(), config, false)?;
        let engine = EngineThread::start(
            &config.name,
            (device, network),
            config.mtu,
            &link.impairment,
            &link.stats,
        )
        .await?;
        link.engine = Some(engine);
        Ok(link)
    }

    /// Makes one namespace and its TUN device, addressed towards the other side.
    fn side(
        &self,
        ns: &str,
        config: &LinkConfig,
        device_side: bool,
    ) -> Result<SyncDevice, NetfaultError> {
        netns::create(ns)?;
        let (local, peer) = if device_side {
            (config.device_addr, config.network_addr)
        } else {
            (config.network_addr, config.device_addr)
        };
        let name = config.name.clone();
        let mtu = config.mtu;
        let device = netns::in_namespace(ns, move || {
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
        self.engine.take();
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
