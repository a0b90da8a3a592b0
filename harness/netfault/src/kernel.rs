//! The kernel path: `tc netem` (with `tbf` for rate) and `nft` for drops, where the kernel has
//! them. This module builds the commands, runs them in a namespace or on the host, and probes for
//! support; [`crate::kernel_link`] uses them on a veth link, [`crate::interface_link`] on a host
//! interface.
//!
//! The commands are built as argument lists, not through a netlink crate: netem's options
//! (correlations, the Gilbert–Elliott model, a child `tbf`) are encoded by `tc` into nested
//! attributes that no maintained Rust crate writes, and the argument lists double as the log of
//! what was done, in the words an engineer would type.

use std::fmt;

use crate::error::NetfaultError;
use crate::impairment::{DirectionImpairment, DnsFailure, Loss, PacketImpairment};
use crate::netns;

/// netem's queue when none is named (packets), kept in step with the userspace engine.
const DEFAULT_LIMIT: usize = 1000;

/// Which engine impairs a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// rigor's packet engine between TUN devices (every impairment, any kernel).
    Tun,
    /// The kernel's netem, tbf and nft on a veth pair.
    Kernel,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Tun => "tun (userspace packet engine)",
            Backend::Kernel => "kernel (tc netem, tbf, nft)",
        })
    }
}

/// What this host's kernel and tools offer, found by trying them in a throwaway namespace.
#[derive(Debug)]
pub struct KernelSupport {
    /// Why netem cannot be used, or `None` if it can.
    pub netem: Option<NetfaultError>,
    /// Why nft cannot be used, or `None` if it can.
    pub nft: Option<NetfaultError>,
}

impl KernelSupport {
    /// Tries a netem qdisc and an nft table on the loopback of a namespace made for the purpose
    /// (loading `sch_netem` on demand if the kernel can), then removes the namespace.
    pub fn probe() -> Result<Self, NetfaultError> {
        let ns = netns::owned_name("probe");
        netns::create(&ns)?;
        let netem = netns::run(
            "ip",
            &[
                "netns", "exec", &ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                "1ms",
            ],
        )
        .err();
        let nft = netns::run(
            "ip",
            &[
                "netns", "exec", &ns, "nft", "add", "table", "inet", "rg_probe",
            ],
        )
        .err();
        netns::delete(&ns)?;
        Ok(Self { netem, nft })
    }

    /// The backend for a link asking for `impairment`s of this kind: the kernel's where it can
    /// do all of them, rigor's engine otherwise.
    pub fn choose(&self, needs: &PacketImpairment) -> Backend {
        if self.netem.is_none() && self.nft.is_none() && kernel_can(needs) {
            Backend::Kernel
        } else {
            Backend::Tun
        }
    }
}

/// Whether the kernel path can apply `imp`: everything but a SERVFAIL resolver, which needs
/// a packet written back (nft can drop a query, not answer it).
pub fn kernel_can(imp: &PacketImpairment) -> bool {
    imp.dns != Some(DnsFailure::ServFail)
}

/// Refuses what the kernel path cannot apply (see [`kernel_can`]), before anything changes.
pub(crate) fn check_kernel_can(imp: &PacketImpairment) -> Result<(), NetfaultError> {
    if kernel_can(imp) {
        Ok(())
    } else {
        Err(NetfaultError::Unsupported {
            what: "a SERVFAIL resolver",
            backend: "kernel",
        })
    }
}

/// Gives interface `dev`'s egress the impairment `d` with [`tc_commands`], run in namespace
/// `ns` (through `ip netns exec`) or, for `None`, on the host.
pub(crate) fn apply_tc(
    ns: Option<&str>,
    dev: &str,
    d: &DirectionImpairment,
) -> Result<(), NetfaultError> {
    for cmd in tc_commands(dev, d) {
        let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let result = in_ns(ns, "tc", &words, None);
        // Deleting a root qdisc that is not there (a clear on a clear link) is done.
        if cmd.get(1).map(String::as_str) != Some("del") {
            result?;
        }
    }
    Ok(())
}

/// Replaces nft tables with `script` (one of [`nft_script`], [`nft_interface_script`]), in
/// namespace `ns` or, for `None`, on the host; nft applies a script whole or not at all.
pub(crate) fn apply_nft(ns: Option<&str>, script: &str) -> Result<(), NetfaultError> {
    in_ns(ns, "nft", &["-f", "-"], Some(script)).map(drop)
}

/// Runs `program` in namespace `ns`, or on the host for `None`.
fn in_ns(
    ns: Option<&str>,
    program: &str,
    words: &[&str],
    input: Option<&str>,
) -> Result<String, NetfaultError> {
    match ns {
        None => netns::run_with_input(program, words, input),
        Some(ns) => {
            let mut full = vec!["netns", "exec", ns, program];
            full.extend_from_slice(words);
            netns::run_with_input("ip", &full, input)
        }
    }
}

/// The `tc` argument lists that give interface `dev`'s egress the impairment `d`: a netem root
/// and, for a rate, a tbf under it. An empty impairment deletes the root qdisc.
pub fn tc_commands(dev: &str, d: &DirectionImpairment) -> Vec<Vec<String>> {
    let mut netem = DirectionImpairment {
        partition: false,
        mtu: None,
        ..d.clone()
    };
    let rate = netem.rate_kbps.take();
    if netem.is_clear() && rate.is_none() {
        return vec![args(&["qdisc", "del", "dev", dev, "root"])];
    }
    let mut root = args(&[
        "qdisc", "replace", "dev", dev, "root", "handle", "1:", "netem",
    ]);
    let limit = d.queue_limit.unwrap_or(DEFAULT_LIMIT);
    root.extend(args(&["limit", &limit.to_string()]));
    if !d.delay.is_zero() || !d.jitter.is_zero() {
        root.extend(args(&["delay", &us(d.delay)]));
        if !d.jitter.is_zero() {
            root.push(us(d.jitter));
            if d.delay_correlation_percent > 0.0 {
                root.push(pct(d.delay_correlation_percent));
            }
        }
    }
    match &d.loss {
        Some(Loss::Random {
            percent,
            correlation_percent,
        }) => {
            root.extend(args(&["loss", "random", &pct(*percent)]));
            if *correlation_percent > 0.0 {
                root.push(pct(*correlation_percent));
            }
        }
        Some(Loss::GilbertElliott {
            p,
            r,
            loss_bad,
            loss_good,
        }) => root.extend(args(&[
            "loss",
            "gemodel",
            &pct(*p),
            &pct(*r),
            &pct(*loss_bad),
            &pct(*loss_good),
        ])),
        None => {}
    }
    for (word, value) in [
        ("duplicate", d.duplicate_percent),
        ("reorder", d.reorder_percent),
        ("corrupt", d.corrupt_percent),
    ] {
        if value > 0.0 {
            root.extend(args(&[word, &pct(value)]));
        }
    }
    let mut commands = vec![root];
    if let Some(kbps) = rate {
        // A burst of at least one full packet (or tbf never sends it), else 10 ms at the rate;
        // the queue is the same number of packets as netem's, in bytes.
        let burst = (u64::from(kbps) * 1000 / 8 / 100).max(1600);
        let limit_bytes = limit * 1500;
        commands.push(args(&[
            "qdisc",
            "replace",
            "dev",
            dev,
            "parent",
            "1:1",
            "handle",
            "10:",
            "tbf",
            "rate",
            &format!("{kbps}kbit"),
            "burst",
            &burst.to_string(),
            "limit",
            &limit_bytes.to_string(),
        ]));
    }
    commands
}

/// The nft script (for `nft -f -`) that replaces table `inet <table>` with the drops `d` asks
/// for on packets leaving through `dev`: a partition, packets over the MTU, and, on the device's
/// side, DNS queries when the resolver is to answer nothing.
pub fn nft_script(
    table: &str,
    dev: &str,
    d: &DirectionImpairment,
    dns: Option<DnsFailure>,
) -> String {
    let rules = drop_rules("oifname", dev, d, dns);
    // Output for traffic made in the namespace, forward for traffic a real device sends through it.
    table_script(table, &[("output", &rules), ("forward", &rules)])
}

/// The nft script for a `netem:` point on host interface `dev`: `down`'s drops on packets
/// leaving through it (towards the device), `up`'s and the resolver's on packets arriving from
/// it, at prerouting so forwarded and local traffic alike are caught.
pub fn nft_interface_script(table: &str, dev: &str, imp: &PacketImpairment) -> String {
    let down = drop_rules("oifname", dev, &imp.down, None);
    let up = drop_rules("iifname", dev, &imp.up, imp.dns);
    table_script(
        table,
        &[("output", &down), ("forward", &down), ("prerouting", &up)],
    )
}

/// The nft rules that drop what `d` (and a silent resolver) asks on packets matched by
/// `key dev` (`oifname` or `iifname`).
fn drop_rules(
    key: &str,
    dev: &str,
    d: &DirectionImpairment,
    dns: Option<DnsFailure>,
) -> Vec<String> {
    let mut rules = Vec::new();
    if d.partition {
        rules.push(format!("{key} \"{dev}\" drop"));
    }
    if let Some(mtu) = d.mtu {
        rules.push(format!("{key} \"{dev}\" meta length > {mtu} drop"));
    }
    if dns == Some(DnsFailure::NoAnswer) {
        rules.push(format!("{key} \"{dev}\" udp dport 53 drop"));
    }
    rules
}

/// A script that replaces table `inet <table>` (creating it first, so the delete never fails)
/// with one filter chain per hook, holding its rules.
fn table_script(table: &str, chains: &[(&str, &Vec<String>)]) -> String {
    let mut script =
        format!("table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n");
    for (hook, rules) in chains {
        script.push_str(&format!(
            "  chain {hook} {{\n    type filter hook {hook} priority 0; policy accept;\n"
        ));
        for rule in rules.iter() {
            script.push_str(&format!("    {rule}\n"));
        }
        script.push_str("  }\n");
    }
    script.push_str("}\n");
    script
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn us(d: std::time::Duration) -> String {
    format!("{}us", d.as_micros())
}

fn pct(p: f64) -> String {
    format!("{p}%")
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
