//! The figures issue 14 asks for, side by side in one run: latency configured vs observed,
//! loss and bursts against their models, throughput unimpaired through the packet engine and
//! the TCP proxy against the direct path, throughput under a 1 Mbit/s limit, and CPU per
//! forwarded packet. `cargo bench -p rigor-netfault` (as root: it makes namespaces);
//! `cargo bench -p rigor-netfault -- tcp-proxy` runs only the TCP proxy's section.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly on purpose

#[path = "../tests/support/mod.rs"]
mod support;
mod tcp_proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rigor_netfault::netns::in_namespace;
use rigor_netfault::{
    DirectionImpairment, KernelLink, LinkConfig, Loss, PacketImpairment, PacketLink,
};
use support::*;
use tcp_proxy::tcp_proxy;

const QUIET: Duration = Duration::from_millis(500);

fn up(d: DirectionImpairment) -> PacketImpairment {
    PacketImpairment {
        up: d,
        ..PacketImpairment::default()
    }
}

/// Two UDP sockets across a link, device side first.
fn udp_pair(
    dev_ns: &str,
    net_ns: &str,
    c: &LinkConfig,
) -> (std::net::UdpSocket, std::net::UdpSocket) {
    (
        udp_in(dev_ns, SocketAddr::new(c.device_addr.into(), 0)),
        udp_in(net_ns, SocketAddr::new(c.network_addr.into(), 0)),
    )
}

/// Sends `bytes` over TCP from the device side to a listener at `to` on the network side (the
/// peer route takes it over the link); returns Mbit/s.
fn tcp_bulk(dev_ns: &str, net_ns: &str, to: SocketAddr, bytes: usize) -> f64 {
    let listener = in_namespace(net_ns, move || TcpListener::bind(to))
        .unwrap()
        .unwrap();
    let to = listener.local_addr().unwrap();
    let stream = in_namespace(dev_ns, move || TcpStream::connect(to))
        .unwrap()
        .unwrap();
    bulk(listener, stream, bytes)
}

fn bulk(listener: TcpListener, mut stream: TcpStream, bytes: usize) -> f64 {
    let receiver = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0;
        while got < bytes {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            got += n;
        }
        Instant::now()
    });
    let chunk = vec![0u8; 256 * 1024];
    let start = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min(bytes - sent);
        stream.write_all(&chunk[..n]).unwrap();
        sent += n;
    }
    let end = receiver.join().unwrap();
    bytes as f64 * 8.0 / (end - start).as_secs_f64() / 1e6
}

/// CPU time (user + system) this process has used.
fn cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t =
        |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    t(u.user_time()) + t(u.system_time())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // `cargo bench -p rigor-netfault -- tcp-proxy`: the TCP proxy's section alone (no root).
    if std::env::args().any(|a| a == "tcp-proxy") {
        return tcp_proxy(&rt);
    }
    println!("rigor-netfault benchmark (packet engine over TUN; kernel without netem)");

    let c = LinkConfig::numbered("rgb-lat", 60);
    let link = rt.block_on(PacketLink::open(&c)).unwrap();
    let (dev, net) = udp_pair(link.device_namespace(), link.network_namespace(), &c);
    let to = net.local_addr().unwrap();
    let kc = LinkConfig::numbered("rgb-veth", 61);
    let veth = KernelLink::open(&kc).unwrap();
    let (vdev, vnet) = udp_pair(veth.device_namespace(), veth.network_namespace(), &kc);
    println!("\nlatency, configured vs observed one-way (UDP, 500 packets at 1 ms)");
    // The same train over a plain veth: what the measurement itself adds (the receiver's
    // wake-up on a loaded machine), the floor under the engine's figures.
    let (_, got) = paced_train(
        &vdev,
        &vnet,
        vnet.local_addr().unwrap(),
        500,
        64,
        Duration::from_millis(1),
        QUIET,
    );
    println!(
        "  veth, no rigor (direct): p50 {:.3} ms, p99 {:.3} ms, {} of 500 arrived",
        quantile_ms(&got, 0.5),
        quantile_ms(&got, 0.99),
        got.len()
    );
    for ms in [10u64, 50, 200] {
        link.set(up(DirectionImpairment {
            delay: Duration::from_millis(ms),
            ..DirectionImpairment::default()
        }));
        let (_, got) = paced_train(&dev, &net, to, 500, 64, Duration::from_millis(1), QUIET);
        let (p50, p99) = (quantile_ms(&got, 0.5), quantile_ms(&got, 0.99));
        let target = ms as f64;
        println!(
            "  {ms:>3} ms: p50 {p50:7.3} ms ({:+.3}), p99 {p99:7.3} ms ({:+.3}), {} of 500 arrived",
            p50 - target,
            p99 - target,
            got.len()
        );
    }

    println!("\nloss over 10 000 packets");
    link.set(up(DirectionImpairment {
        loss: Some(Loss::Random {
            percent: 10.0,
            correlation_percent: 0.0,
        }),
        ..DirectionImpairment::default()
    }));
    let (_, got) = train(&dev, &net, to, 10_000, 32, QUIET);
    let lost = 10_000 - got.len();
    let sd = (10_000.0f64 * 0.1 * 0.9).sqrt();
    println!(
        "  random 10 %: {:.2} % lost; 95 % interval {:.2}..{:.2} %: {}",
        lost as f64 / 100.0,
        (1000.0 - 1.96 * sd) / 100.0,
        (1000.0 + 1.96 * sd) / 100.0,
        if (lost as f64 - 1000.0).abs() <= 1.96 * sd {
            "inside"
        } else {
            "OUTSIDE"
        }
    );
    link.set(up(DirectionImpairment {
        loss: Some(Loss::GilbertElliott {
            p: 2.0,
            r: 25.0,
            loss_bad: 100.0,
            loss_good: 0.0,
        }),
        ..DirectionImpairment::default()
    }));
    let (_, got) = train(&dev, &net, to, 10_000, 32, QUIET);
    let mut seqs: Vec<u32> = got.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    let bursts: Vec<u32> = seqs
        .windows(2)
        .map(|w| w[1] - w[0] - 1)
        .filter(|g| *g > 0)
        .collect();
    println!(
        "  Gilbert-Elliott p 2 % r 25 %: {:.2} % lost (model {:.2} %), mean burst {:.2} packets \
         over {} bursts (model 4.00)",
        (10_000 - got.len()) as f64 / 100.0,
        2.0 / 27.0 * 100.0,
        f64::from(bursts.iter().sum::<u32>()) / bursts.len() as f64,
        bursts.len()
    );

    println!("\nrate limit 1 Mbit/s (UDP, 250 packets of 1028 IP bytes)");
    link.set(up(DirectionImpairment {
        rate_kbps: Some(1_000),
        ..DirectionImpairment::default()
    }));
    let (_, got) = train(&dev, &net, to, 250, 1000, QUIET);
    let span = got[got.len() - 1].at - got[0].at;
    let kbps = (got.len() - 1) as f64 * 1028.0 * 8.0 / span.as_secs_f64() / 1000.0;
    println!(
        "  {kbps:.1} kbit/s ({:+.2} %)",
        (kbps / 1000.0 - 1.0) * 100.0
    );
    link.set(PacketImpairment::default());

    println!("\nCPU per forwarded packet (UDP, 50 000 packets of 64 bytes)");
    let before = (cpu(), link.stats().up.delivered);
    let start = Instant::now();
    let (_, got) = train(&dev, &net, to, 50_000, 64, QUIET);
    let engine = cpu() - before.0;
    let forwarded = link.stats().up.delivered - before.1;
    let wall = start.elapsed() - QUIET;
    let before = cpu();
    let (_, vgot) = train(&vdev, &vnet, vnet.local_addr().unwrap(), 50_000, 64, QUIET);
    let direct = cpu() - before;
    println!(
        "  through the engine: {forwarded} forwarded, {} received, {:.0} kpps; process CPU \
         {:.2} µs/packet, of which the engine (less the same train over veth, {} received) \
         {:.2} µs/packet",
        got.len(),
        forwarded as f64 / wall.as_secs_f64() / 1e3,
        engine.as_secs_f64() * 1e6 / forwarded as f64,
        vgot.len(),
        (engine.as_secs_f64() - direct.as_secs_f64()) * 1e6 / forwarded as f64,
    );

    println!("\nthroughput, unimpaired (TCP, 256 MB)");
    let bytes = 256 << 20;
    let direct = tcp_bulk(
        veth.device_namespace(),
        veth.network_namespace(),
        SocketAddr::new(kc.network_addr.into(), 0),
        bytes,
    );
    let engine = tcp_bulk(
        link.device_namespace(),
        link.network_namespace(),
        SocketAddr::new(c.network_addr.into(), 0),
        bytes,
    );
    println!("  veth, no rigor (direct):       {direct:8.0} Mbit/s");
    println!(
        "  packet engine (TUN):           {engine:8.0} Mbit/s ({:.0} % of direct)",
        engine / direct * 100.0
    );
    // An impairment that drops nothing still takes the per-packet path both ways: each GSO
    // frame cut into segments, shaped and written one by one. Its cost, not a target.
    let nothing = DirectionImpairment {
        loss: Some(Loss::Random {
            percent: 0.0,
            correlation_percent: 0.0,
        }),
        ..DirectionImpairment::default()
    };
    link.set(PacketImpairment {
        up: nothing.clone(),
        down: nothing,
        dns: None,
    });
    let per_packet = tcp_bulk(
        link.device_namespace(),
        link.network_namespace(),
        SocketAddr::new(c.network_addr.into(), 0),
        bytes / 4,
    );
    link.set(PacketImpairment::default());
    println!(
        "  engine, per-packet path (0 % loss set): {per_packet:8.0} Mbit/s ({:.0} % of direct)",
        per_packet / direct * 100.0
    );
    tcp_proxy(&rt);
}
