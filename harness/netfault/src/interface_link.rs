//! A `netem:` point: the kernel's netem, tbf and nft on an interface of the station itself (the
//! port a device is cabled to, or a bridge port towards it), where no namespace stands between
//! rigor and the device.
//!
//! The interface faces the device: what leaves the station through it is the `down` direction
//! (netem and tbf as its root qdisc); what arrives from the device is `up`, redirected at ingress
//! to an ifb device whose root qdisc impairs it, because netem only shapes egress. Drops
//! (partitions, MTU, a silent resolver) are nft rules on the interface's name.
//!
//! The interface is the host's, so deleting a namespace cannot clean it up: each open point
//! leaves a record under `/run/rigor-netfault` naming its owner (pid and start time), and the
//! next start (the first link any rigor process opens, and every `netem:` point's open) removes
//! the qdiscs, ifb and table of every record whose owner is gone.

use std::path::{Path, PathBuf};

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};
use rigor_model::rig::NetemPoint;

use crate::error::NetfaultError;
use crate::impairment::PacketImpairment;
use crate::kernel::{KernelSupport, apply_nft, apply_tc, check_kernel_can, nft_interface_script};
use crate::link::check_interface_name;
use crate::netns;

/// Where open points record their owner (a tmpfs: a reboot clears records and rules alike).
const RECORD_DIR: &str = "/run/rigor-netfault";

/// A host interface impaired by the kernel while this value lives; dropping it restores the
/// interface's default qdiscs and removes the ifb and the nft table.
///
/// rigor owns the interface's root and ingress qdiscs while the point is open: a qdisc someone
/// else set there is replaced, and is not put back.
#[derive(Debug)]
pub struct InterfaceLink {
    interface: String,
    ifb: String,
    record: PathBuf,
}

impl InterfaceLink {
    /// Takes `point`'s interface for impairment: sweeps what dead rigor processes left on any
    /// interface, records this process as the owner, and redirects the interface's ingress to
    /// an ifb device. `support` is the host's (see [`KernelSupport::probe`]); without netem or nft
    /// the point cannot be opened, and the error says why and what to use instead.
    pub fn open(point: &NetemPoint, support: KernelSupport) -> Result<Self, NetfaultError> {
        let interface = point.interface.clone();
        check_interface_name(&interface)?;
        if let Some(why) = support.netem.or(support.nft) {
            return Err(NetfaultError::NoKernelPath {
                interface,
                source: Box::new(why),
            });
        }
        let dir = Path::new("/sys/class/net").join(&interface);
        if !dir.exists() {
            return Err(NetfaultError::NoInterface { interface });
        }
        let index = std::fs::read_to_string(dir.join("ifindex"))
            .map_err(|source| NetfaultError::io(format!("reading {interface}'s index"), source))?
            .trim()
            .to_owned();
        netns::sweep_once()?;
        // Every open, not only the process's first: a record whose owner died since must be
        // neither taken for a live owner's nor leave an ifb of this one's name in the way.
        sweep()?;
        let record = Path::new(RECORD_DIR).join(&interface);
        if let Ok(owner) = std::fs::read_to_string(&record)
            && let Some(owner) = owner.lines().next()
            && !netns::owner_gone(owner)
        {
            let pid = owner.split('-').next().unwrap_or(owner).to_owned();
            return Err(NetfaultError::InterfaceBusy { interface, pid });
        }
        let ifb = format!("{}b{index}", netns::PREFIX);
        std::fs::create_dir_all(RECORD_DIR)
            .map_err(|source| NetfaultError::io(format!("creating {RECORD_DIR}"), source))?;
        std::fs::write(&record, format!("{}\n{ifb}\n", netns::owner()))
            .map_err(|source| NetfaultError::io(format!("writing {}", record.display()), source))?;
        // From here on, a failure is undone by Drop.
        let link = Self {
            interface,
            ifb,
            record,
        };
        let (dev, ifb) = (link.interface.as_str(), link.ifb.as_str());
        netns::run("ip", &["link", "add", ifb, "type", "ifb"])?;
        netns::run("ip", &["link", "set", ifb, "up"])?;
        netns::run(
            "tc",
            &["qdisc", "replace", "dev", dev, "handle", "ffff:", "ingress"],
        )?;
        netns::run(
            "tc",
            &[
                "filter", "replace", "dev", dev, "parent", "ffff:", "protocol", "all", "prio", "1",
                "matchall", "action", "mirred", "egress", "redirect", "dev", ifb,
            ],
        )?;
        Ok(link)
    }

    /// The host interface.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The ifb device the interface's inbound traffic is impaired on.
    pub fn ifb(&self) -> &str {
        &self.ifb
    }

    /// Applies `imp` with tc and nft, replacing any impairment before it.
    pub fn set(&self, imp: &PacketImpairment) -> Result<(), NetfaultError> {
        check_kernel_can(imp)?;
        apply_tc(None, &self.interface, &imp.down)?;
        apply_tc(None, &self.ifb, &imp.up)?;
        apply_nft(
            None,
            &nft_interface_script(&table(&self.ifb), &self.interface, imp),
        )
    }
}

/// The nft table of the point whose ifb is `ifb`.
fn table(ifb: &str) -> String {
    ifb.replace('-', "_")
}

/// Removes what a point left on `interface`: its qdiscs, its ifb and its nft table. Each step
/// may find its part already gone.
fn undo(interface: &str, ifb: &str) {
    for parent in ["root", "ingress"] {
        let _ = netns::run("tc", &["qdisc", "del", "dev", interface, parent]);
    }
    let _ = netns::run("ip", &["link", "del", ifb]);
    let _ = netns::run("nft", &["delete", "table", "inet", &table(ifb)]);
}

/// Restores every interface a dead rigor process left impaired; returns their names.
pub fn sweep() -> Result<Vec<String>, NetfaultError> {
    let Ok(entries) = std::fs::read_dir(RECORD_DIR) else {
        return Ok(Vec::new());
    };
    let mut restored = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let (owner, ifb) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        if !netns::owner_gone(owner) {
            continue;
        }
        let interface = entry.file_name().to_string_lossy().into_owned();
        if ifb.starts_with(netns::PREFIX) {
            undo(&interface, ifb);
        }
        std::fs::remove_file(&path)
            .map_err(|source| NetfaultError::io(format!("removing {}", path.display()), source))?;
        restored.push(interface);
    }
    Ok(restored)
}

impl Drop for InterfaceLink {
    fn drop(&mut self) {
        undo(&self.interface, &self.ifb);
        // A record left here names a live owner until this process ends, then is swept.
        let _ = std::fs::remove_file(&self.record);
    }
}

#[async_trait]
impl NetImpairment for InterfaceLink {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        Ok(self.set(&PacketImpairment::from(impairment))?)
    }
    async fn clear(&self) -> Result<(), HalError> {
        Ok(self.set(&PacketImpairment::default())?)
    }
}
