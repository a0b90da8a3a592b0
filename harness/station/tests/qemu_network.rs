//! A QEMU rig whose board slot declares a `tun:` point: opening the slot for a scenario with
//! `net.*` steps puts the board's Ethernet behind the packet engine, and the impairment those
//! steps apply (through the slot's link, as the runner does) shows in the round trips of the
//! firmware's UDP echo, measured from the link's network side.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rigor_hal::{FirmwareImage, ImageFormat, Impairment};
use rigor_model::value::Scalar;
use rigor_qemu::BoardNetwork;
use rigor_station::{SlotSpec, Station, plan_slots};
use tokio::net::UdpSocket;

/// The rig's point: the device side at 10.78.0.1, so the network side is 10.78.0.2.
const INTERFACE: &str = "rgs-eth0";
const NETWORK_SIDE: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const ECHO_PORT: u16 = 7;
const BOOT: Duration = Duration::from_secs(10);
const ANSWER: Duration = Duration::from_secs(2);

const PROFILE: &str = r#"
profile: qemu-fridge-net
family: qemu-fridge-net
generation: lm3s6965
description: The fixture firmware with its Ethernet link
mcu: { chip: LM3S6965, core: cortex-m3 }
flash: { methods: [gdb-remote, virtual], formats: [elf] }
console:
  baud: 115200
  line-ending: crlf
  prompt: "> "
  boot-banner: 'fridge-ctl qemu fw (?P<fw_version>\d+\.\d+\.\d+) serial (?P<serial>\S+)'
  boot-time: 1s
network:
  ethernet: { medium: ethernet }
"#;

const FIXTURE: &str = r#"
fixture: fx-qemu-fridge-net
fits: { family: qemu-fridge-net, generations: [lm3s6965] }
slot-kind: qemu-net-board
console: uart0
network: { ethernet: eth0 }
"#;

const RIG: &str = r#"
rig: qemu-net
station: { id: qemu-net-1, site: virtual }
permissions: { flash: true }
qemu: { machine: lm3s6965evb }
slots:
  board:
    kind: qemu-net-board
    probe: virtual
    serial: { uart0: virtual }
    net: { eth0: { tun: { interface: rgs-eth0, address: 10.78.0.1/30 } } }
"#;

const SCENARIO: &str = r#"
scenario: qemu-net
version: 1
applies-to: { family: qemu-fridge-net }
parameters:
  image: { description: The firmware }
steps:
  - flash: { image: "${image}" }
  - net.impair: { link: ethernet, latency: 20ms }
  - net.clear: ethernet
"#;

/// Writes the profile, fixture, rig and scenario into `dir`.
fn write_files(dir: &Path, texts: [String; 4]) {
    for (name, text) in ["profile", "fixture", "rig", "scenario"].iter().zip(texts) {
        std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
    }
}

fn image(target: &Path) -> std::path::PathBuf {
    rigor_qemu::firmware::build(&target.join("qemu-fridge-fw"), "1.0.0", false).unwrap()
}

/// Sends echo request `seq` and waits up to `within` for its answer: the round trip, or `None`.
async fn echo(socket: &UdpSocket, seq: u32, within: Duration) -> Option<Duration> {
    let board = (BoardNetwork::fridge_fw().address, ECHO_PORT);
    let request = format!("station echo {seq:08}");
    let start = Instant::now();
    socket.send_to(request.as_bytes(), board).await.unwrap();
    let mut buf = [0u8; 1500];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (n, _) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        if buf[..n] == *request.as_bytes() {
            return Some(start.elapsed());
        }
    }
}

/// The station of the rig written into `dir`, with board QF-000001's plan of its scenario
/// flashing `image`.
async fn station(dir: &Path, image: &str) -> (Station, rigor_station::SlotPlan) {
    let catalog = rigor_station::load(&[dir]).unwrap();
    let params = [("image".to_owned(), Scalar::Text(image.to_owned()))].into();
    let mut plans = plan_slots(
        &catalog,
        "qemu-net",
        "qemu-net",
        &[SlotSpec::new("board").unit("QF-000001")],
        &params,
    )
    .unwrap();
    let station = Station::for_plans(&catalog, "qemu-net", &plans, &Default::default())
        .await
        .unwrap()
        .with_lock_dir(dir.to_owned());
    (station, plans.remove(0))
}

/// The median round trip of `count` echoes, every one of which must come back.
async fn median(socket: &UdpSocket, seq: &mut u32, count: u32) -> (Duration, Duration) {
    let mut rtts = Vec::new();
    for _ in 0..count {
        let rtt = echo(socket, *seq, ANSWER).await;
        rtts.push(rtt.unwrap_or_else(|| panic!("echo {seq} did not come back")));
        *seq += 1;
    }
    rtts.sort();
    (rtts[0], rtts[rtts.len() / 2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_slot_with_a_tun_point_puts_the_boards_ethernet_behind_the_packet_engine() {
    let exe = std::env::current_exe().unwrap();
    let image = image(exe.ancestors().nth(3).unwrap());
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        [PROFILE, FIXTURE, RIG, SCENARIO].map(str::to_owned),
    );
    let (station, plan) = station(dir.path(), &image.display().to_string()).await;
    let mut job = station.open(plan, None).await.unwrap();
    let link = job
        .devices
        .links
        .get("eth0")
        .expect("the tun point opened")
        .clone();

    let elf = std::fs::read(&image).unwrap();
    let flasher = job.devices.flasher.as_mut().expect("a flasher");
    flasher
        .flash(
            &FirmwareImage {
                name: image.display().to_string(),
                bytes: Arc::from(elf),
                format: ImageFormat::Elf,
                base_address: None,
            },
            false,
        )
        .await
        .unwrap();

    let network_ns = rigor_netfault::netns::owned_name(&format!("{INTERFACE}-net"));
    let socket = rigor_netfault::netns::in_namespace(&network_ns, || {
        let s = std::net::UdpSocket::bind((NETWORK_SIDE, 0)).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    })
    .unwrap();
    let socket = UdpSocket::from_std(socket).unwrap();
    let (start, mut seq) = (Instant::now(), 0);
    while echo(&socket, seq, Duration::from_millis(200))
        .await
        .is_none()
    {
        assert!(start.elapsed() < BOOT, "the flashed board never answered");
        seq += 1;
    }

    let (_, direct) = median(&socket, &mut seq, 10).await;
    link.apply(&Impairment {
        latency: Some(Duration::from_millis(20)),
        ..Impairment::default()
    })
    .await
    .unwrap();
    // The seam's latency applies each way: the round trip grows by twice it.
    let (min, impaired) = median(&socket, &mut seq, 10).await;
    link.clear().await.unwrap();
    let (_, cleared) = median(&socket, &mut seq, 10).await;
    eprintln!(
        "p50: direct {direct:?}, 20 ms each way {impaired:?} (min {min:?}), cleared {cleared:?}"
    );
    assert!(direct < Duration::from_millis(20), "direct p50 {direct:?}");
    assert!(min >= Duration::from_micros(39_950), "impaired min {min:?}");
    assert!(
        impaired < Duration::from_millis(60),
        "impaired p50 {impaired:?}"
    );
    assert!(
        cleared < Duration::from_millis(20),
        "cleared p50 {cleared:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tun_point_for_the_one_ethernet_controller_is_refused_before_qemu_starts() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        [
            PROFILE.replace(
                "  ethernet: { medium: ethernet }",
                "  ethernet: { medium: ethernet }\n  service: { medium: ethernet }",
            ),
            FIXTURE.replace("{ ethernet: eth0 }", "{ ethernet: eth0, service: eth1 }"),
            RIG.replace(
                "address: 10.78.0.1/30 } } }",
                "address: 10.78.0.1/30 } }, eth1: { tun: { interface: rgs-eth1, address: 10.79.0.1/30 } } }",
            ),
            format!("{SCENARIO}  - net.clear: service\n"),
        ],
    );
    let (station, plan) = station(dir.path(), "unused.elf").await;
    let err = station
        .open(plan, None)
        .await
        .err()
        .expect("two tun points for one board");
    assert_eq!(
        err.to_string(),
        "slot `board`: impairment point `eth1` is not available (the board has one Ethernet \
         controller, already on another `tun:` point)"
    );
}
