//! Whether this host can open a rig's impairment points, found without changing anything: no
//! namespace, interface or qdisc is made (`rigor check` asks, and a check changes nothing).
//! [`KernelSupport::probe`](crate::KernelSupport::probe) tries the kernel for real when a run
//! opens a link.

use std::path::Path;

use rigor_model::rig::{ImpairmentPoint, Rig};

/// Why an impairment point cannot be opened on this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostProblem {
    /// The process lacks a capability the backend needs.
    #[error(
        "rigor lacks {capability} here (run it as root, or give the binary the capability with setcap)"
    )]
    Capability {
        /// The capability's name.
        capability: &'static str,
    },
    /// `/dev/net/tun` cannot be opened.
    #[error("/dev/net/tun cannot be opened: {reason}")]
    Tun {
        /// The OS error.
        reason: String,
    },
    /// A program the backend runs is not on `PATH`.
    #[error("`{program}` is not installed (Debian package {package})")]
    Program {
        /// The program.
        program: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// The interface a `netem:` point names does not exist.
    #[error("there is no interface `{0}` on this host")]
    NoInterface(String),
    /// The kernel lacks a module the kernel backend needs.
    #[error(
        "this kernel has no {what} (module {module}), which a `netem:` point needs; a `tun:` point \
         runs rigor's packet engine instead"
    )]
    NoModule {
        /// The module.
        module: &'static str,
        /// What it does for the point.
        what: &'static str,
    },
}

/// An impairment point of a rig this host cannot open, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointProblem {
    /// The slot.
    pub slot: String,
    /// The slot's channel name for the point.
    pub channel: String,
    /// The point's kind (`tun`, `netem`).
    pub kind: &'static str,
    /// Why it cannot be opened.
    pub problem: HostProblem,
}

impl std::fmt::Display for PointProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{} ({}) cannot be opened on this host: {}",
            self.slot, self.channel, self.kind, self.problem
        )
    }
}

/// Every impairment point of `rig` this host cannot open, with each reason, by slot and channel.
pub fn rig_problems(rig: &Rig) -> Vec<PointProblem> {
    let mut found = Vec::new();
    for (slot, s) in &rig.slots {
        for (channel, point) in &s.net {
            for problem in problems(point) {
                found.push(PointProblem {
                    slot: slot.clone(),
                    channel: channel.clone(),
                    kind: point.key(),
                    problem,
                });
            }
        }
    }
    found
}

/// Linux capability numbers (`linux/capability.h`).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// What stands in the way of opening `point` on this host, first problem first; empty when
/// nothing does. Proxy and virtual points need nothing of the host.
pub fn problems(point: &ImpairmentPoint) -> Vec<HostProblem> {
    match point {
        ImpairmentPoint::Proxy(_) | ImpairmentPoint::Virtual => Vec::new(),
        ImpairmentPoint::Tun(_) => {
            let mut found = capabilities(&[
                (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
                (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
            ]);
            if let Err(e) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")
            {
                found.push(HostProblem::Tun {
                    reason: e.to_string(),
                });
            }
            found.extend(program("ip", "iproute2"));
            found
        }
        ImpairmentPoint::Netem(point) => {
            let mut found = Vec::new();
            if !Path::new("/sys/class/net").join(&point.interface).exists() {
                found.push(HostProblem::NoInterface(point.interface.clone()));
            }
            for (module, what) in [
                ("sch_netem", "netem"),
                ("ifb", "ifb (the inbound direction's queue)"),
            ] {
                if !module_available(module) {
                    found.push(HostProblem::NoModule { module, what });
                }
            }
            found.extend(capabilities(&[(CAP_NET_ADMIN, "CAP_NET_ADMIN")]));
            found.extend(program("tc", "iproute2"));
            found.extend(program("nft", "nftables"));
            found
        }
    }
}

/// The capabilities of `wanted` this process does not have in its effective set.
fn capabilities(wanted: &[(u32, &'static str)]) -> Vec<HostProblem> {
    let effective = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0);
    wanted
        .iter()
        .filter(|(bit, _)| effective & (1 << bit) == 0)
        .map(|(_, capability)| HostProblem::Capability { capability })
        .collect()
}

fn program(program: &'static str, package: &'static str) -> Option<HostProblem> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    (!on_path).then_some(HostProblem::Program { program, package })
}

/// Whether the kernel has `module` loaded, built in, or as a module it can load.
fn module_available(module: &str) -> bool {
    if Path::new("/sys/module").join(module).exists() {
        return true;
    }
    let ko = format!("/{module}.ko");
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let modules = Path::new("/lib/modules").join(release.trim());
    let listed = |index: &str| {
        std::fs::read_to_string(modules.join(index))
            .is_ok_and(|list| list.lines().any(|l| l.contains(&ko)))
    };
    listed("modules.dep") || listed("modules.builtin")
}

#[cfg(test)]
mod tests {
    use rigor_model::rig::{ImpairmentPoint, NetemPoint, ProxyPoint};

    use super::*;

    #[test]
    fn a_proxy_needs_nothing_of_the_host_and_a_netem_point_needs_its_interface() {
        let proxy = ImpairmentPoint::Proxy(ProxyPoint {
            listen: "127.0.0.1:1".into(),
            upstream: "127.0.0.1:2".into(),
        });
        assert!(problems(&proxy).is_empty());
        let netem = ImpairmentPoint::Netem(NetemPoint {
            interface: "rg-no-such-if".into(),
        });
        let found = problems(&netem);
        assert_eq!(found[0], HostProblem::NoInterface("rg-no-such-if".into()));
    }
}
