//! The board's Ethernet segment: a tap device in a network namespace, given to the board's
//! controller by QEMU and routed through the device side of a packet-level link (rigor's packet
//! engine), so traffic between the board and the link's network side meets its impairments.
//!
//! Configured with iproute2's `ip`, as rigor's links are (`rigor_netfault::netns` says why).
//! Everything made here lives in the namespaces it is given, and goes when they are deleted.

use std::net::Ipv4Addr;
use std::process::Command;

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
    /// The tap device's name in the device namespace.
    pub tap: String,
}

impl BoardNetwork {
    /// The fixture firmware's network (`fixtures/qemu-fridge-fw/src/echo.rs`): 10.77.0.2 with a
    /// UDP echo on port 7, MAC 02:00:00:4d:00:02.
    pub fn fridge_fw() -> Self {
        BoardNetwork {
            address: Ipv4Addr::new(10, 77, 0, 2),
            mac: [0x02, 0x00, 0x00, 0x4D, 0x00, 0x02],
            gateway: Ipv4Addr::new(10, 77, 0, 1),
            prefix: 24,
            tap: "rg-board".to_owned(),
        }
    }

    /// The `-nic` argument that gives the board's controller this tap ([`crate::QemuConfig::nic`]).
    pub fn nic(&self) -> String {
        stellaris_tap_nic(&self.tap, self.mac)
    }

    /// Makes the tap in `device_ns` with the gateway's address and a static neighbour entry for
    /// the board, lets that namespace forward, and routes the segment from `network_ns` into the
    /// link's interface `link_interface` (present in both namespaces).
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
        ip(&["-n", device_ns, "tuntap", "add", "dev", tap, "mode", "tap"])?;
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
        assert_eq!(
            BoardNetwork::fridge_fw().nic(),
            "tap,ifname=rg-board,script=no,downscript=no,model=stellaris,mac=02:00:00:4d:00:02"
        );
    }
}
