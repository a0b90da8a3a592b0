//! Opening a rig's impairment points: the constructors `rigor run` calls for `tun:` and `netem:`
//! points, and which backend each uses.

use std::net::Ipv4Addr;

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};
use rigor_model::rig::{ImpairmentPoint, NetemPoint, TunPoint};

use crate::error::NetfaultError;
use crate::impairment::PacketImpairment;
use crate::interface_link::InterfaceLink;
use crate::kernel::{Backend, KernelSupport};
use crate::kernel_link::KernelLink;
use crate::link::{LinkConfig, PacketLink, check_interface_name};

/// A link on whichever backend the host offers: the same scenario runs on either.
pub enum Link {
    /// rigor's packet engine over TUN.
    Tun(PacketLink),
    /// netem, tbf and nft on veth.
    Kernel(KernelLink),
}

impl Link {
    /// Opens `config` on the backend `support` chooses for impairments like `needs` (the
    /// kernel's where it has netem and nft and can do them all), and says which.
    pub async fn open(
        config: &LinkConfig,
        needs: &PacketImpairment,
        support: &KernelSupport,
    ) -> Result<(Self, Backend), NetfaultError> {
        let backend = support.choose(needs);
        let link = match backend {
            Backend::Tun => Self::Tun(PacketLink::open(config).await?),
            Backend::Kernel => Self::Kernel(KernelLink::open(config)?),
        };
        Ok((link, backend))
    }

    /// Applies `imp`, replacing any impairment before it.
    pub fn set(&self, imp: &PacketImpairment) -> Result<(), NetfaultError> {
        match self {
            Self::Tun(l) => {
                l.set(imp.clone());
                Ok(())
            }
            Self::Kernel(l) => l.set(imp),
        }
    }

    /// The namespace the device's traffic starts in.
    pub fn device_namespace(&self) -> &str {
        match self {
            Self::Tun(l) => l.device_namespace(),
            Self::Kernel(l) => l.device_namespace(),
        }
    }

    /// The namespace on the network side.
    pub fn network_namespace(&self) -> &str {
        match self {
            Self::Tun(l) => l.network_namespace(),
            Self::Kernel(l) => l.network_namespace(),
        }
    }
}

#[async_trait]
impl NetImpairment for Link {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        Ok(self.set(&PacketImpairment::from(impairment))?)
    }
    async fn clear(&self) -> Result<(), HalError> {
        Ok(self.set(&PacketImpairment::default())?)
    }
}

/// Opens a rig's `tun:` point as a packet-level link: two namespaces owned by this process,
/// joined by TUN devices named `point.interface`, the device side at `point.address` and the
/// network side at the other host of its prefix. Must be called on a tokio runtime, which
/// then runs the engine; dropping the result removes the namespaces.
///
/// For the seam: `Box<dyn NetImpairment>`. For more than the seam's impairment (bursts,
/// reordering, DNS failure, one-way partitions) call [`open_tun`] and [`PacketLink::set`].
pub async fn open_point(point: &TunPoint) -> Result<Box<dyn NetImpairment>, NetfaultError> {
    Ok(Box::new(open_tun(point).await?))
}

/// [`open_point`], keeping the link's own type.
pub async fn open_tun(point: &TunPoint) -> Result<PacketLink, NetfaultError> {
    PacketLink::open(&link_config(point)?).await
}

/// Opens a rig's `netem:` point: the kernel's netem, tbf and nft on the host interface it names
/// (see [`InterfaceLink`]), after probing that the kernel has them. On a host without them the
/// error says so and points to `tun:` points, which run rigor's packet engine on any kernel:
/// the packet engine needs the device's traffic in namespaces of its own, which a host
/// interface's is not.
pub fn open_netem_point(point: &NetemPoint) -> Result<Box<dyn NetImpairment>, NetfaultError> {
    let support = KernelSupport::probe()?;
    Ok(Box::new(InterfaceLink::open(point, support)?))
}

/// The backend that opens `point` on a host with `support`, or why none can: a `tun:` point
/// runs the packet engine; a `netem:` point the kernel's, which must be there. Proxy and virtual
/// points have neither (`None`).
pub fn point_backend<'a>(
    point: &ImpairmentPoint,
    support: &'a KernelSupport,
) -> Result<Option<Backend>, &'a NetfaultError> {
    match point {
        ImpairmentPoint::Tun(_) => Ok(Some(Backend::Tun)),
        ImpairmentPoint::Netem(_) => match support.netem.as_ref().or(support.nft.as_ref()) {
            Some(why) => Err(why),
            None => Ok(Some(Backend::Kernel)),
        },
        ImpairmentPoint::Proxy(_) | ImpairmentPoint::Virtual => Ok(None),
    }
}

/// The link a `tun:` point describes.
pub fn link_config(point: &TunPoint) -> Result<LinkConfig, NetfaultError> {
    check_interface_name(&point.interface)?;
    let bad = || NetfaultError::BadAddress {
        address: point.address.clone(),
    };
    let (addr, prefix) = point.address.split_once('/').ok_or_else(bad)?;
    let device: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if !(1..=30).contains(&prefix) {
        return Err(bad());
    }
    let host_bits = 32 - prefix;
    let mask = u32::MAX << host_bits;
    let bits = u32::from(device);
    let (network, broadcast) = (bits & mask, bits | !mask);
    if bits == network || bits == broadcast {
        return Err(bad());
    }
    // The peer is the next host up, or the one below at the top of the range.
    let peer = if bits + 1 < broadcast {
        bits + 1
    } else {
        bits - 1
    };
    Ok(LinkConfig {
        name: point.interface.clone(),
        device_addr: device,
        network_addr: Ipv4Addr::from(peer),
        mtu: 1500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(interface: &str, address: &str) -> TunPoint {
        TunPoint {
            interface: interface.to_owned(),
            address: address.to_owned(),
        }
    }

    #[test]
    fn the_peer_is_the_other_host_of_the_prefix() {
        let c = link_config(&point("dut0", "10.7.0.1/30")).expect("valid");
        assert_eq!(c.device_addr, Ipv4Addr::new(10, 7, 0, 1));
        assert_eq!(c.network_addr, Ipv4Addr::new(10, 7, 0, 2));
        let c = link_config(&point("dut0", "10.7.0.2/30")).expect("valid");
        assert_eq!(c.network_addr, Ipv4Addr::new(10, 7, 0, 1));
        let c = link_config(&point("dut0", "192.168.5.254/24")).expect("valid");
        assert_eq!(c.network_addr, Ipv4Addr::new(192, 168, 5, 253));
    }

    #[test]
    fn a_tun_point_runs_the_packet_engine_and_a_netem_point_the_kernel_where_it_is() {
        let tun = ImpairmentPoint::Tun(point("dut0", "10.7.0.1/30"));
        let netem = ImpairmentPoint::Netem(NetemPoint {
            interface: "eth1".into(),
        });
        let with = KernelSupport {
            netem: None,
            nft: None,
        };
        assert_eq!(point_backend(&tun, &with).ok(), Some(Some(Backend::Tun)));
        assert_eq!(
            point_backend(&netem, &with).ok(),
            Some(Some(Backend::Kernel))
        );
        assert_eq!(
            point_backend(&ImpairmentPoint::Virtual, &with).ok(),
            Some(None)
        );
        let without = KernelSupport {
            netem: Some(NetfaultError::BadInterfaceName { name: "x".into() }),
            nft: None,
        };
        assert_eq!(point_backend(&tun, &without).ok(), Some(Some(Backend::Tun)));
        assert!(point_backend(&netem, &without).is_err());
    }

    #[test]
    fn bad_points_say_what_is_wrong() {
        for (iface, addr, msg) in [
            (
                "dut0",
                "10.7.0.0/30",
                "`10.7.0.0/30` is not an IPv4 address/prefix with room for the device and its peer",
            ),
            (
                "dut0",
                "10.7.0.1/31",
                "`10.7.0.1/31` is not an IPv4 address/prefix with room for the device and its peer",
            ),
            (
                "dut0",
                "fe80::1/64",
                "`fe80::1/64` is not an IPv4 address/prefix with room for the device and its peer",
            ),
            (
                "a-very-long-interface",
                "10.7.0.1/30",
                "`a-very-long-interface` is not a valid interface name (1 to 15 bytes, no `/` or whitespace)",
            ),
        ] {
            let err = link_config(&point(iface, addr)).expect_err(addr);
            assert_eq!(err.to_string(), msg);
        }
    }
}
