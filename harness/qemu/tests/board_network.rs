//! The QEMU board on a packet-level link (issue 14, item 5): the firmware's UDP echo, reached
//! from the network side of a rigor link through the packet engine, answers in well under a
//! millisecond of emulation, later by the delay the link adds, and not at all when the link
//! loses its answers.
//!
//! Wiring: the tap QEMU gives the board's Ethernet controller is moved into the link's device
//! namespace, which routes between the tap (10.77.0.0/24, the board at .2 with a
//! static neighbour entry, as the firmware has no ARP) and the link's TUN device, and the network
//! namespace routes 10.77.0.0/24 into the link. Dropping the link deletes both namespaces with
//! the tap in them; a killed test's are swept by the next link's start.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rigor_netfault::{DirectionImpairment, LinkConfig, Loss, PacketImpairment, PacketLink};
use rigor_qemu::{BoardNetwork, QemuConfig, QemuMachine};
use tokio::net::UdpSocket;

const ECHO_PORT: u16 = 7;
/// How long the board may take to boot and answer its first echo.
const BOOT: Duration = Duration::from_secs(10);
/// How long an echo may take before it counts as missing, on a loaded machine.
const ANSWER: Duration = Duration::from_secs(2);

/// The firmware's address.
fn board_ip() -> Ipv4Addr {
    BoardNetwork::fridge_fw().address
}

/// The firmware image (version 1.0.0), built into the workspace's target directory.
fn image() -> PathBuf {
    // The test binary is `<target>/<profile>/deps/<name>`.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().join("qemu-fridge-fw");
    rigor_qemu::firmware::build(&target, "1.0.0", false).unwrap()
}

/// A UDP socket in namespace `ns`, bound to `addr`.
fn udp_in(ns: &str, addr: SocketAddr) -> UdpSocket {
    let socket = rigor_netfault::netns::in_namespace(ns, move || {
        let s = std::net::UdpSocket::bind(addr).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    })
    .unwrap();
    UdpSocket::from_std(socket).unwrap()
}

/// Sends echo request `seq` and waits up to `within` for its answer; the round trip, or `None`
/// if it did not come back. Answers to earlier requests (late ones) are skipped.
async fn echo(socket: &UdpSocket, seq: u32, within: Duration) -> Option<Duration> {
    let request = format!("rigor echo {seq:08}");
    let start = Instant::now();
    socket
        .send_to(request.as_bytes(), (board_ip(), ECHO_PORT))
        .await
        .unwrap();
    let mut buf = [0u8; 1500];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        assert_eq!(from, SocketAddr::from((board_ip(), ECHO_PORT)));
        if buf[..n] == *request.as_bytes() {
            return Some(start.elapsed());
        }
    }
}

/// Echoes `count` requests one after the other, numbered from `first`; their round trips, all of
/// which must come back.
async fn round_trips(socket: &UdpSocket, first: u32, count: u32) -> Vec<Duration> {
    let mut rtts = Vec::new();
    for seq in first..first + count {
        let rtt = echo(socket, seq, ANSWER).await;
        rtts.push(rtt.unwrap_or_else(|| panic!("echo {seq} did not come back")));
    }
    rtts.sort();
    rtts
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boards_udp_echo_crosses_the_packet_engine_and_meets_its_impairments() {
    let image = image();
    // Declared before the machine, so dropped after it: QEMU ends before its namespace goes.
    let config = LinkConfig::numbered("rgq-board", 77);
    let link = PacketLink::open(&config).await.unwrap();
    let board = BoardNetwork::fridge_fw();
    let machine = QemuMachine::start(&QemuConfig::new(&image).nic(board.nic()))
        .await
        .unwrap();
    board
        .wire(
            link.device_namespace(),
            link.network_namespace(),
            link.interface(),
        )
        .unwrap();
    machine.cont().await.unwrap();
    let socket = udp_in(
        link.network_namespace(),
        SocketAddr::new(config.network_addr.into(), 0),
    );

    // Until the firmware has set its MAC up, requests go unanswered: ask until one comes back.
    let booted = Instant::now();
    let mut seq = 0;
    while echo(&socket, seq, Duration::from_millis(200))
        .await
        .is_none()
    {
        machine.check().unwrap();
        assert!(booted.elapsed() < BOOT, "the board never answered an echo");
        seq += 1;
    }
    seq += 1;

    let before = link.stats();
    let direct = round_trips(&socket, seq, 20).await;
    seq += 20;
    let stats = link.stats();
    // Every echo crossed the engine both ways: the board answered, not something on the way.
    assert!(stats.down.delivered - before.down.delivered >= 20);
    assert!(stats.up.delivered - before.up.delivered >= 20);
    let (p50, max) = (ms(direct[10]), ms(direct[19]));
    eprintln!("unimpaired: p50 {p50:.3} ms, max {max:.3} ms");
    // Emulation and the engine add well under a millisecond idle; a loaded debug build, more.
    assert!(p50 < 20.0, "unimpaired p50 {p50} ms");

    let delay = Duration::from_millis(40);
    link.set(PacketImpairment {
        down: DirectionImpairment {
            delay,
            ..DirectionImpairment::default()
        },
        ..PacketImpairment::default()
    });
    let delayed = round_trips(&socket, seq, 10).await;
    seq += 10;
    let (min, p50) = (ms(delayed[0]), ms(delayed[5]));
    eprintln!("40 ms down: min {min:.3} ms, p50 {p50:.3} ms");
    assert!(min >= 39.95, "delayed min {min} ms");
    assert!(p50 < 40.0 + 20.0, "delayed p50 {p50} ms");

    // Every answer lost on its way up: the board still answers (the engine reads its answers),
    // none arrives.
    link.set(PacketImpairment {
        up: DirectionImpairment {
            loss: Some(Loss::Random {
                percent: 100.0,
                correlation_percent: 0.0,
            }),
            ..DirectionImpairment::default()
        },
        ..PacketImpairment::default()
    });
    let lost_before = link.stats().up.lost;
    for _ in 0..5 {
        let request = format!("rigor echo {seq:08}");
        socket
            .send_to(request.as_bytes(), (board_ip(), ECHO_PORT))
            .await
            .unwrap();
        seq += 1;
    }
    tokio::time::timeout(ANSWER, link.until(|s| s.up.lost - lost_before >= 5))
        .await
        .expect("the board's five answers reach the engine and are lost");
    let mut buf = [0u8; 1500];
    let arrived = socket.try_recv_from(&mut buf);
    assert!(
        arrived
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "a lost answer arrived: {arrived:?}"
    );

    // Cleared, the link carries answers again.
    link.set(PacketImpairment::default());
    assert!(echo(&socket, seq, ANSWER).await.is_some());
}
