//! Partitions (one-way and both ways, through the seam) and the link's failing resolver,
//! measured on real traffic between two namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use rigor_hal::{Impairment, NetImpairment};
use rigor_netfault::{DirectionImpairment, DnsFailure, LinkConfig, PacketImpairment, PacketLink};
use support::*;

const QUIET: Duration = Duration::from_millis(300);

fn sockets(link: &PacketLink, config: &LinkConfig, port: u16) -> (UdpSocket, UdpSocket) {
    let device = udp_in(
        link.device_namespace(),
        SocketAddr::new(config.device_addr.into(), 0),
    );
    let network = udp_in(
        link.network_namespace(),
        SocketAddr::new(config.network_addr.into(), port),
    );
    (device, network)
}

/// Sends `n` numbered packets `up` or down, waits until the engine has read them, runs `lift`,
/// sends a marker (sequence number `u32::MAX`), and returns what arrived before the marker: a
/// partition that dropped rather than held traffic lets nothing through ahead of it.
async fn through(
    link: &PacketLink,
    up: bool,
    (tx, rx, to): (&UdpSocket, &UdpSocket, SocketAddr),
    n: u32,
    lift: impl FnOnce(),
) -> Vec<u32> {
    let read = |s: &rigor_netfault::LinkStats| if up { s.up.received } else { s.down.received };
    let before = read(&link.stats());
    send_train(tx, to, n, 16, Duration::ZERO);
    link.until(|s| read(s) >= before + u64::from(n)).await;
    lift();
    tx.send_to(&u32::MAX.to_be_bytes(), to).unwrap();
    let mut seqs: Vec<u32> = receive(rx, n as usize + 1, QUIET)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        seqs.pop(),
        Some(u32::MAX),
        "the marker arrives once the cut is lifted"
    );
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_partition_cuts_one_direction_only() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let config = LinkConfig::numbered("rgt-oneway", 20);
    let link = PacketLink::open(&config).await.unwrap();
    let (device, network) = sockets(&link, &config, 0);
    let (to_network, to_device) = (network.local_addr().unwrap(), device.local_addr().unwrap());
    link.set(PacketImpairment {
        up: DirectionImpairment {
            partition: true,
            ..DirectionImpairment::default()
        },
        ..PacketImpairment::default()
    });
    // Down still flows, all of it.
    let down = through(&link, false, (&network, &device, to_device), 100, || {}).await;
    assert_eq!(down, (0..100).collect::<Vec<_>>());
    // Up is cut: nothing of the 100 arrives, then the marker does once the cut is lifted.
    let up = through(&link, true, (&device, &network, to_network), 100, || {
        link.set(PacketImpairment::default());
    })
    .await;
    assert_eq!(up, Vec::<u32>::new());
    assert_eq!(link.stats().up.partitioned, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seams_partition_cuts_both_ways_and_clear_restores_the_link() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let config = LinkConfig::numbered("rgt-twoway", 21);
    let link = PacketLink::open(&config).await.unwrap();
    let (device, network) = sockets(&link, &config, 0);
    let (to_network, to_device) = (network.local_addr().unwrap(), device.local_addr().unwrap());
    let cut = Impairment {
        partition: true,
        ..Impairment::default()
    };
    link.apply(&cut).await.unwrap();
    let down = through(&link, false, (&network, &device, to_device), 50, || {
        link.set(PacketImpairment {
            up: DirectionImpairment {
                partition: true,
                ..DirectionImpairment::default()
            },
            ..PacketImpairment::default()
        });
    })
    .await;
    assert_eq!(down, Vec::<u32>::new());
    let up = through(&link, true, (&device, &network, to_network), 50, || {
        link.set(PacketImpairment::default());
    })
    .await;
    assert_eq!(up, Vec::<u32>::new());
    link.apply(&cut).await.unwrap();
    link.clear().await.unwrap();
    let (_, got) = train(&device, &network, to_network, 100, 16, QUIET);
    assert_eq!(got.len(), 100);
}

/// A DNS query for `a.io`, type A, with id `id`.
fn query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(&[1, b'a', 2, b'i', b'o', 0, 0, 1, 0, 1]);
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_links_resolver_answers_servfail_or_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let config = LinkConfig::numbered("rgt-dns", 22);
    let link = PacketLink::open(&config).await.unwrap();
    // A resolver listens on the network side: it must see no query while DNS is failed.
    let (device, resolver) = sockets(&link, &config, 53);
    let to_resolver = resolver.local_addr().unwrap();
    device.set_read_timeout(Some(QUIET)).unwrap();
    resolver.set_read_timeout(Some(QUIET)).unwrap();

    link.set(PacketImpairment {
        dns: Some(DnsFailure::ServFail),
        ..PacketImpairment::default()
    });
    device.send_to(&query(0x1234), to_resolver).unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = device.recv_from(&mut buf).unwrap();
    assert_eq!(
        from, to_resolver,
        "the answer seems to come from the resolver"
    );
    assert_eq!(&buf[..2], &[0x12, 0x34]);
    assert_eq!(buf[2] & 0x80, 0x80, "an answer");
    assert_eq!(buf[3] & 0x0f, 2, "SERVFAIL");
    assert_eq!(n, 22, "the question is echoed, no records");

    link.set(PacketImpairment {
        dns: Some(DnsFailure::NoAnswer),
        ..PacketImpairment::default()
    });
    device.send_to(&query(0x5678), to_resolver).unwrap();
    // Then a packet that is not DNS to the same port, which passes: the resolver's first
    // arrival shows whether the query got through.
    device.send_to(b"not dns", to_resolver).unwrap();
    let n = resolver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"not dns");
    let stats = link.stats();
    assert_eq!((stats.dns_servfail, stats.dns_dropped), (1, 1));

    link.set(PacketImpairment::default());
    device.send_to(&query(0x9abc), to_resolver).unwrap();
    let n = resolver.recv(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &query(0x9abc)[..],
        "a healthy link passes queries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_backend_runs_the_same_impairment() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let support = rigor_netfault::KernelSupport::probe().unwrap();
    let config = LinkConfig::numbered("rgt-any", 23);
    let cut = PacketImpairment {
        up: DirectionImpairment {
            partition: true,
            ..DirectionImpairment::default()
        },
        ..PacketImpairment::default()
    };
    let (link, backend) = rigor_netfault::Link::open(&config, &cut, &support)
        .await
        .unwrap();
    eprintln!("backend: {backend}");
    let device = udp_in(
        link.device_namespace(),
        SocketAddr::new(config.device_addr.into(), 0),
    );
    let network = udp_in(
        link.network_namespace(),
        SocketAddr::new(config.network_addr.into(), 0),
    );
    let to = network.local_addr().unwrap();
    link.set(&cut).unwrap();
    let (_, got) = train(&device, &network, to, 50, 16, Duration::from_millis(200));
    assert_eq!(got.len(), 0, "cut on {backend}");
    link.set(&PacketImpairment::default()).unwrap();
    let (_, got) = train(&device, &network, to, 50, 16, QUIET);
    assert_eq!(got.len(), 50, "restored on {backend}");
}
