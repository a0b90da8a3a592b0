//! The kernel path, measured like the packet engine. On a kernel without `sch_netem` (this
//! machine's) it checks that the link opens and that an impairment fails saying why; on one
//! with it (the Debian kernel guest: run with `RIGOR_EXPECT_NETEM=1`, so a broken probe cannot
//! skip the measurements) it measures delay, loss, rate and a partition through netem and nft.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use rigor_netfault::{
    Backend, DirectionImpairment, KernelLink, KernelSupport, LinkConfig, Loss, PacketImpairment,
};
use support::*;

const QUIET: Duration = Duration::from_millis(300);
const GAP: Duration = Duration::from_micros(200);

fn up(d: DirectionImpairment) -> PacketImpairment {
    PacketImpairment {
        up: d,
        ..PacketImpairment::default()
    }
}

#[test]
fn the_kernel_path_impairs_a_veth_link_where_netem_exists() {
    let support = KernelSupport::probe().unwrap();
    let expect = std::env::var_os("RIGOR_EXPECT_NETEM").is_some();
    let config = LinkConfig::numbered("rgt-kern", 30);
    let link = KernelLink::open(&config).unwrap();
    let delay = up(DirectionImpairment {
        delay: Duration::from_millis(20),
        ..DirectionImpairment::default()
    });
    if support.netem.is_some() && !expect {
        let err = link.set(&delay).expect_err("no netem here");
        assert!(err.to_string().contains("netem"), "{err}");
        assert_eq!(support.choose(&delay), Backend::Tun);
        eprintln!("no sch_netem on this kernel: measured the packet engine only");
        return;
    }
    assert!(
        support.netem.is_none(),
        "netem expected: {:?}",
        support.netem
    );
    assert!(support.nft.is_none(), "nft expected: {:?}", support.nft);
    assert_eq!(support.choose(&delay), Backend::Kernel);

    let device = udp_in(
        link.device_namespace(),
        SocketAddr::new(config.device_addr.into(), 0),
    );
    let network = udp_in(
        link.network_namespace(),
        SocketAddr::new(config.network_addr.into(), 0),
    );
    let to = network.local_addr().unwrap();

    link.set(&delay).unwrap();
    let (_, got) = paced_train(&device, &network, to, 300, 64, GAP, QUIET);
    assert_eq!(got.len(), 300);
    let (p50, p99) = (quantile_ms(&got, 0.5), quantile_ms(&got, 0.99));
    assert!((19.9..21.0).contains(&p50), "p50 {p50} ms");
    assert!((19.9..23.0).contains(&p99), "p99 {p99} ms");

    link.set(&up(DirectionImpairment {
        loss: Some(Loss::Random {
            percent: 10.0,
            correlation_percent: 0.0,
        }),
        ..DirectionImpairment::default()
    }))
    .unwrap();
    let (_, got) = paced_train(
        &device,
        &network,
        to,
        10_000,
        32,
        Duration::from_micros(20),
        QUIET,
    );
    assert!(
        within_binomial(10_000 - got.len(), 10_000, 0.10),
        "{}",
        got.len()
    );

    link.set(&up(DirectionImpairment {
        rate_kbps: Some(8_000),
        ..DirectionImpairment::default()
    }))
    .unwrap();
    let (_, got) = train(&device, &network, to, 400, 1000, QUIET);
    let span = got[got.len() - 1].at - got[0].at;
    let kbps = (got.len() - 1) as f64 * 1028.0 * 8.0 / span.as_secs_f64() / 1000.0;
    assert!((kbps / 8_000.0 - 1.0).abs() < 0.05, "{kbps} kbit/s");

    link.set(&up(DirectionImpairment {
        partition: true,
        ..DirectionImpairment::default()
    }))
    .unwrap();
    let (_, got) = train(&device, &network, to, 100, 16, QUIET);
    assert_eq!(got.len(), 0);
    link.set(&PacketImpairment::default()).unwrap();
    let (_, got) = train(&device, &network, to, 100, 16, QUIET);
    assert_eq!(got.len(), 100);
}
