//! The board's Ethernet segment: the tap device QEMU gives the board's controller, moved into
//! the device namespace of a packet-level link (rigor's packet engine) and routed through it, so
//! traffic between the board and the link's network side meets the link's impairments.
//!
//! QEMU itself stays in the host's namespace: its GDB stub listens on the host's loopback, where
//! the flasher reaches it (inside the device namespace it could not). QEMU creates the tap when
//! it starts, so no tap ever exists that nothing holds: it goes with QEMU until it is moved, and
//! with the namespace after.
//!
//! Configured with iproute2's `ip`, as rigor's links are (`rigor_netfault::netns` says why).

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::board::stellaris_tap_nic;
use crate::error::QemuError;

/// Where the board sits on its segment, and the tap its segment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardNetwork {
    /// The board's address, as its firmware has it.
    pub address: Ipv4Addr,
    /// The board's MAC address, as its firmware sets it: the host side's neighbour entry for
    /// it is static (firmware without ARP answers nothing else).
    pub mac: [u8; 6],
    /// The tap's address on the segment: the board's gateway.
    pub gateway: Ipv4Addr,
    /// The segment's prefix length.
    pub prefix: u8,
    /// The tap device's name, unique on the host while it is there (before it is moved).
    pub tap: String,
}

impl BoardNetwork {
    /// The fixture firmware's network (`fixtures/qemu-fridge-fw/src/echo.rs`): 10.77.0.2 with a
    /// UDP echo on port 7, MAC 02:00:00:4d:00:02; a tap name of its own.
    pub fn fridge_fw() -> Self {
        BoardNetwork {
            address: Ipv4Addr::new(10, 77, 0, 2),
            mac: [0x02, 0x00, 0x00, 0x4D, 0x00, 0x02],
            gateway: Ipv4Addr::new(10, 77, 0, 1),
            prefix: 24,
            tap: tap_name(),
        }
    }

    /// The `-nic` argument that gives the board's controller this tap ([`crate::QemuConfig::nic`]).
    pub fn nic(&self) -> String {
        stellaris_tap_nic(&self.tap, self.mac)
    }

    /// Moves the tap of a started QEMU (one given [`BoardNetwork::nic`]) into `device_ns`, gives
    /// it the gateway's address and a static neighbour entry for the board, lets that namespace
    /// forward, and routes the segment from `network_ns` into the link's interface
    /// `link_interface` (present in both namespaces).
    ///
    /// Only once QEMU has started: it opens the tap by name, in its own namespace. A started
    /// [`crate::QemuMachine`] has: QEMU answers QMP only once every backend is up.
    pub fn wire(
        &self,
        device_ns: &str,
        network_ns: &str,
        link_interface: &str,
    ) -> Result<(), QemuError> {
        let tap = self.tap.as_str();
        let gateway = format!("{}/{}", self.gateway, self.prefix);
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        let segment = Ipv4Addr::from(u32::from(self.address) & mask);
        let segment = format!("{segment}/{}", self.prefix);
        let board = self.address.to_string();
        let mac = self.mac.map(|b| format!("{b:02x}")).join(":");
        ip(&["link", "set", tap, "netns", device_ns])?;
        ip(&["-n", device_ns, "addr", "add", &gateway, "dev", tap])?;
        ip(&["-n", device_ns, "link", "set", tap, "up"])?;
        let neighbour = ["neigh", "replace", &board, "lladdr", &mac, "dev", tap];
        ip(&[&["-n", device_ns][..], &neighbour, &["nud", "permanent"]].concat())?;
        let forward = ["sysctl", "-qw", "net.ipv4.ip_forward=1"];
        ip(&[&["netns", "exec", device_ns][..], &forward].concat())?;
        ip(&[
            "-n",
            network_ns,
            "route",
            "add",
            &segment,
            "dev",
            link_interface,
        ])?;
        Ok(())
    }
}

/// A tap name no other board of this host has: `rgq<pid>-<n>`, within the kernel's 15 bytes.
fn tap_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 1000;
    format!("rgq{}-{n}", std::process::id())
}

/// Runs `ip` with `args`; a failure carries what it said.
fn ip(args: &[&str]) -> Result<(), QemuError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| QemuError::Setup {
            what: format!("the board's network (`{command}`)"),
            source,
        })?;
    if !out.status.success() {
        return Err(QemuError::Network {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_boards_nic_is_its_tap_with_its_mac() {
        let board = BoardNetwork::fridge_fw();
        assert_eq!(
            board.nic(),
            format!(
                "tap,ifname={},script=no,downscript=no,model=stellaris,mac=02:00:00:4d:00:02",
                board.tap
            )
        );
        assert!(board.tap.len() <= 15, "{}", board.tap);
        assert_ne!(board.tap, BoardNetwork::fridge_fw().tap);
    }
}
