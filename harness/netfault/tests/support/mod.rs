//! Traffic and measurement for the link tests: numbered UDP packets sent from one namespace,
//! received in the other, each with its send and arrival time; and a child process to kill.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test uses part of it

use std::net::SocketAddr;
use std::time::Duration;

use rigor_netfault::netns::in_namespace;
use std::net::UdpSocket;
use std::time::Instant;

pub mod holder;

/// Held by each test of a file for its whole run: trains of 10 000 packets on two cores would
/// otherwise delay the timed trains of the tests beside them.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Binds a UDP socket to `addr` inside namespace `ns`. Blocking std sockets on threads of their
/// own: arrival times are then the kernel's wake-up, not a runtime's scheduling.
pub fn udp_in(ns: &str, addr: SocketAddr) -> UdpSocket {
    let socket = in_namespace(ns, move || UdpSocket::bind(addr))
        .unwrap()
        .unwrap();
    // Room for a whole train, so the receiving socket never drops what the link delivered
    // (root may exceed rmem_max, and the tests run as root to make namespaces anyway).
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &(64 << 20))
        .unwrap();
    // Arrival is when the kernel queued the packet to this socket, not when the receiving thread
    // next ran: on a loaded machine that thread waits its turn for milliseconds, which is the
    // test's delay, not the link's.
    nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::ReceiveTimestampns,
        &true,
    )
    .unwrap();
    socket
}

/// Receives one datagram into `buf`: its length and when the kernel queued it (as an
/// `Instant`: the kernel stamps the wall clock, here moved onto the monotonic one).
fn recv_stamped(rx: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, Instant)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(rx.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(std::io::Error::from)?;
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let mut at = now;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmTimestampns(ts) = c {
            let stamped =
                std::time::UNIX_EPOCH + Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32);
            at = now - wall.duration_since(stamped).unwrap_or_default();
        }
    }
    Ok((msg.bytes, at))
}

/// One received packet: its sequence number and one-way delay.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub seq: u32,
    pub delay: Duration,
    pub at: Instant,
}

/// Sends `n` packets of `size` bytes of UDP payload (at least 4: the sequence number) from `tx`
/// to `to`, one every `gap` (zero: back to back); returns the send times.
pub fn send_train(
    tx: &UdpSocket,
    to: SocketAddr,
    n: u32,
    size: usize,
    gap: Duration,
) -> Vec<Instant> {
    let mut sent = Vec::with_capacity(n as usize);
    let mut buf = vec![0u8; size.max(4)];
    let start = Instant::now();
    for seq in 0..n {
        // A paced train, not a wait for a condition: a real device sends at its own rate.
        let due = start + gap * seq;
        if let Some(ahead) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(ahead);
        }
        buf[..4].copy_from_slice(&seq.to_be_bytes());
        sent.push(Instant::now());
        tx.send_to(&buf, to).unwrap();
    }
    sent
}

/// Receives until `expect` packets came or none came for `quiet` (the link has gone idle: what
/// is still in flight is lost). `quiet` bounds the wait for the condition; it is not a pause.
pub fn receive(rx: &UdpSocket, expect: usize, quiet: Duration) -> Vec<(u32, Instant)> {
    rx.set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::with_capacity(expect);
    let mut buf = vec![0u8; 65_536];
    while got.len() < expect {
        match recv_stamped(rx, &mut buf) {
            Ok((n, at)) if n >= 4 => {
                got.push((u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]), at))
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    got
}

/// Sends a back-to-back train from one thread while another receives it.
pub fn train(
    tx: &UdpSocket,
    rx: &UdpSocket,
    to: SocketAddr,
    n: u32,
    size: usize,
    quiet: Duration,
) -> (Vec<Instant>, Vec<Arrival>) {
    paced_train(tx, rx, to, n, size, Duration::ZERO, quiet)
}

/// Sends a train of one packet every `gap` from one thread while another receives it.
pub fn paced_train(
    tx: &UdpSocket,
    rx: &UdpSocket,
    to: SocketAddr,
    n: u32,
    size: usize,
    gap: Duration,
    quiet: Duration,
) -> (Vec<Instant>, Vec<Arrival>) {
    let (sent, got) = std::thread::scope(|s| {
        let receiver = s.spawn(|| receive(rx, n as usize * 2, quiet));
        let sent = send_train(tx, to, n, size, gap);
        (sent, receiver.join().unwrap())
    });
    let arrivals = got
        .into_iter()
        .map(|(seq, at)| Arrival {
            seq,
            at,
            delay: at - sent[seq as usize],
        })
        .collect();
    (sent, arrivals)
}

/// The `q` quantile (0 to 1) of the delays, in milliseconds.
pub fn quantile_ms(arrivals: &[Arrival], q: f64) -> f64 {
    let mut d: Vec<f64> = arrivals
        .iter()
        .map(|a| a.delay.as_secs_f64() * 1e3)
        .collect();
    d.sort_by(f64::total_cmp);
    let i = ((d.len() - 1) as f64 * q).round() as usize;
    d[i]
}

/// Whether `observed` successes of `n` are within the 99.9 % (normal approximation) binomial
/// interval around `p`. Not 95 %: a test on a 95 % interval fails one run in twenty with a
/// perfect link; the benchmark reports against the 95 % interval.
pub fn within_binomial(observed: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (observed as f64 - mean).abs() <= 3.29 * sd
}

/// The UDP counters of namespace `ns` (`/proc/net/snmp`'s `Udp:` lines) as name, value.
pub fn udp_counters(ns: &str) -> Vec<(String, u64)> {
    let text = in_namespace(ns, || std::fs::read_to_string("/proc/thread-self/net/snmp"))
        .unwrap()
        .unwrap();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next().unwrap().split_whitespace().skip(1);
    let values = udp.next().unwrap().split_whitespace().skip(1);
    names
        .zip(values)
        .map(|(n, v)| (n.to_owned(), v.parse().unwrap()))
        .collect()
}

/// One UDP counter of namespace `ns`.
pub fn udp_counter(ns: &str, name: &str) -> u64 {
    udp_counters(ns)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
}
