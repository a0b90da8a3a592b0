//! A link on the kernel path: a veth pair between the two namespaces, impaired by netem and tbf
//! on each end's egress and by nft drops, for kernels that have `sch_netem` (the Debian guest's).

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};

use crate::error::NetfaultError;
use crate::impairment::{DnsFailure, PacketImpairment};
use crate::kernel::{apply_nft, apply_tc, check_kernel_can, nft_script};
use crate::link::{LinkConfig, check_interface_name};
use crate::netns;

/// A veth link impaired by the kernel; dropping it removes its namespaces, with their qdiscs
/// and nft tables.
pub struct KernelLink {
    device_ns: String,
    network_ns: String,
    interface: String,
}

impl KernelLink {
    /// Creates the namespaces and the veth pair between them (both ends named `config.name`).
    /// Works on any kernel; applying an impairment needs netem (see
    /// [`crate::kernel::KernelSupport::probe`]).
    pub fn open(config: &LinkConfig) -> Result<Self, NetfaultError> {
        check_interface_name(&config.name)?;
        netns::sweep_once()?;
        let link = Self {
            device_ns: netns::owned_name(&format!("{}-dev", config.name)),
            network_ns: netns::owned_name(&format!("{}-net", config.name)),
            interface: config.name.clone(),
        };
        netns::create(&link.device_ns)?;
        netns::create(&link.network_ns)?;
        let iface = config.name.as_str();
        netns::run(
            "ip",
            &[
                "link",
                "add",
                "name",
                iface,
                "netns",
                &link.device_ns,
                "type",
                "veth",
                "peer",
                "name",
                iface,
                "netns",
                &link.network_ns,
            ],
        )?;
        for (ns, local, peer) in [
            (&link.device_ns, config.device_addr, config.network_addr),
            (&link.network_ns, config.network_addr, config.device_addr),
        ] {
            let (local, peer) = (local.to_string(), peer.to_string());
            netns::run(
                "ip",
                &["-n", ns, "addr", "add", &local, "peer", &peer, "dev", iface],
            )?;
            netns::run(
                "ip",
                &[
                    "-n",
                    ns,
                    "link",
                    "set",
                    iface,
                    "mtu",
                    &config.mtu.to_string(),
                    "up",
                ],
            )?;
        }
        Ok(link)
    }

    /// The namespace the device's traffic starts in.
    pub fn device_namespace(&self) -> &str {
        &self.device_ns
    }

    /// The namespace on the network side.
    pub fn network_namespace(&self) -> &str {
        &self.network_ns
    }

    /// Applies `imp` with tc and nft, replacing any impairment before it.
    pub fn set(&self, imp: &PacketImpairment) -> Result<(), NetfaultError> {
        check_kernel_can(imp)?;
        let table = format!("rg_{}", self.interface.replace('-', "_"));
        for (ns, d, dns) in [
            (&self.device_ns, &imp.up, imp.dns),
            (&self.network_ns, &imp.down, None::<DnsFailure>),
        ] {
            apply_tc(Some(ns), &self.interface, d)?;
            apply_nft(Some(ns), &nft_script(&table, &self.interface, d, dns))?;
        }
        Ok(())
    }
}

impl Drop for KernelLink {
    fn drop(&mut self) {
        // A namespace left here is swept at the next start.
        let _ = netns::delete(&self.device_ns);
        let _ = netns::delete(&self.network_ns);
    }
}

#[async_trait]
impl NetImpairment for KernelLink {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        Ok(self.set(&PacketImpairment::from(impairment))?)
    }
    async fn clear(&self) -> Result<(), HalError> {
        Ok(self.set(&PacketImpairment::default())?)
    }
}
