use std::time::Duration;

use super::*;

fn line(cmd: &[String]) -> String {
    cmd.join(" ")
}

#[test]
fn every_netem_option_is_spelled_as_tc_expects() {
    let d = DirectionImpairment {
        delay: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        delay_correlation_percent: 25.0,
        loss: Some(Loss::Random {
            percent: 1.5,
            correlation_percent: 20.0,
        }),
        duplicate_percent: 2.0,
        reorder_percent: 5.0,
        corrupt_percent: 0.1,
        ..DirectionImpairment::default()
    };
    let cmds = tc_commands("dut0", &d);
    assert_eq!(cmds.len(), 1);
    assert_eq!(
        line(&cmds[0]),
        "qdisc replace dev dut0 root handle 1: netem limit 1000 delay 50000us 10000us 25% \
         loss random 1.5% 20% duplicate 2% reorder 5% corrupt 0.1%"
    );
}

#[test]
fn bursts_use_the_gemodel_and_a_rate_puts_a_tbf_under_netem() {
    let d = DirectionImpairment {
        loss: Some(Loss::GilbertElliott {
            p: 1.0,
            r: 25.0,
            loss_bad: 100.0,
            loss_good: 0.0,
        }),
        rate_kbps: Some(1000),
        queue_limit: Some(50),
        ..DirectionImpairment::default()
    };
    let cmds = tc_commands("dut0", &d);
    assert_eq!(
        line(&cmds[0]),
        "qdisc replace dev dut0 root handle 1: netem limit 50 loss gemodel 1% 25% 100% 0%"
    );
    assert_eq!(
        line(&cmds[1]),
        "qdisc replace dev dut0 parent 1:1 handle 10: tbf rate 1000kbit burst 1600 limit 75000"
    );
}

#[test]
fn a_clear_direction_deletes_the_root_qdisc_and_drops_go_to_nft() {
    let d = DirectionImpairment {
        partition: true,
        mtu: Some(576),
        ..DirectionImpairment::default()
    };
    assert_eq!(
        tc_commands("dut0", &d),
        vec![args(&["qdisc", "del", "dev", "dut0", "root"])]
    );
    let script = nft_script("rg_dut0", "dut0", &d, Some(DnsFailure::NoAnswer));
    assert!(script.starts_with("table inet rg_dut0\ndelete table inet rg_dut0\n"));
    for rule in [
        "oifname \"dut0\" drop",
        "oifname \"dut0\" meta length > 576 drop",
        "oifname \"dut0\" udp dport 53 drop",
    ] {
        assert_eq!(
            script.matches(rule).count(),
            2,
            "{rule} in output and forward"
        );
    }
}

#[test]
fn a_servfail_resolver_needs_the_packet_engine() {
    let support = KernelSupport {
        netem: None,
        nft: None,
    };
    let servfail = PacketImpairment {
        dns: Some(DnsFailure::ServFail),
        ..PacketImpairment::default()
    };
    assert_eq!(support.choose(&servfail), Backend::Tun);
    assert_eq!(
        support.choose(&PacketImpairment::default()),
        Backend::Kernel
    );
}

/// The probe tells the truth about this host: with `RIGOR_EXPECT_NETEM=1` (the Debian kernel
/// guest) netem must be found; on a kernel without `sch_netem` it must not be.
#[test]
fn the_probe_agrees_with_the_kernel() {
    let support = KernelSupport::probe().expect("the probe runs");
    let has_module = std::path::Path::new("/sys/module/sch_netem").exists();
    if std::env::var_os("RIGOR_EXPECT_NETEM").is_some() || has_module {
        assert!(support.netem.is_none(), "{:?}", support.netem);
    } else {
        let why = support
            .netem
            .as_ref()
            .expect("no netem on this kernel")
            .to_string();
        assert!(why.contains("netem"), "{why}");
        assert_eq!(support.choose(&PacketImpairment::default()), Backend::Tun);
    }
}
