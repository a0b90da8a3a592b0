//! The units' telemetry uplink and the cloud it reports to.
//!
//! Each unit with an uplink dials the bench's cloud server through its slot's impairment point
//! (rigor's userspace proxy, the same driver a rack without netem uses), over real loopback TCP.
//! The protocol is MQTT's shape in a line per message: `HELLO <serial>` answered by `WELCOME`
//! (CONNECT/CONNACK), then `HB <seq>` every half second answered by `ACK <seq>` (PINGREQ/PINGRESP).
//! The firmware judges its link by the acknowledgements alone, as a device must: slow ones make it
//! `degraded`, none for three seconds make it `lost`, and it then dials again every second.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpListener;

use crate::gateway::Gateways;
use crate::unit::{State, lock};

/// How often a connected unit sends a heartbeat.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// A heartbeat acknowledged slower than this marks the link degraded.
const DEGRADED_RTT: Duration = Duration::from_millis(300);
/// No acknowledgement for this long: the link is lost.
const LOST_AFTER: Duration = Duration::from_secs(3);
/// The pause between two dials while the link is down.
const REDIAL: Duration = Duration::from_secs(1);

/// What the firmware believes of its uplink; the `telemetry` command prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Not running, or no uplink.
    Offline,
    /// Dialling: no `WELCOME` yet.
    Connecting,
    /// Heartbeats acknowledged promptly.
    Connected,
    /// Heartbeats acknowledged, slowly.
    Degraded,
    /// No acknowledgement for three seconds; dialling again.
    Lost,
}

impl Link {
    /// The word the firmware prints.
    pub fn word(self) -> &'static str {
        match self {
            Link::Offline => "offline",
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Degraded => "degraded",
            Link::Lost => "lost",
        }
    }
}

/// Serves the cloud end on loopback: answers every `HELLO` and `HB` of every unit, and hands the
/// reading a heartbeat carries (`HB 7 temp=4.31`) to the bench's `gateways`.
pub async fn serve_cloud(
    gateways: Gateways,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let gateways = gateways.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = AsyncBufReader::new(read).lines();
                let mut serial = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = if let Some(hello) = line.strip_prefix("HELLO ") {
                        serial = hello.trim().to_owned();
                        "WELCOME\n".to_owned()
                    } else if let Some(beat) = line.strip_prefix("HB ") {
                        let mut words = beat.split_whitespace();
                        let seq = words.next().unwrap_or_default().to_owned();
                        if let Some(temp) = words.find_map(|w| w.strip_prefix("temp=")) {
                            gateways.report(&serial, temp);
                        }
                        format!("ACK {seq}\n")
                    } else {
                        continue;
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((addr, task))
}

/// Starts the unit's telemetry task: a thread of its firmware that dials `dial` while it runs.
pub fn spawn_uplink(state: Arc<Mutex<State>>, dial: SocketAddr, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut next_dial = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let (running, serial) = {
                let s = lock(&state);
                (s.running(), s.serial.clone())
            };
            if !running {
                set(&state, Link::Offline, false);
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let now = Instant::now();
            if now < next_dial {
                std::thread::sleep((next_dial - now).min(Duration::from_millis(50)));
                continue;
            }
            if lock(&state).link != Link::Lost {
                set(&state, Link::Connecting, false);
            }
            session(&state, dial, &serial, &stop);
            next_dial = Instant::now() + REDIAL;
        }
    });
}

/// One connection, from dial to loss (or power-off). Announces every change of link state on the
/// console, as the firmware's log does.
fn session(state: &Mutex<State>, dial: SocketAddr, serial: &str, stop: &AtomicBool) {
    let Ok(mut stream) = TcpStream::connect_timeout(&dial, Duration::from_millis(500)) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader);
    if stream
        .write_all(format!("HELLO {serial}\n").as_bytes())
        .is_err()
    {
        return;
    }
    let dialled = Instant::now();
    let mut welcomed = false;
    let mut seq: u64 = 0;
    // Heartbeats sent and not yet acknowledged, oldest first.
    let mut unacked: Vec<(u64, Instant)> = Vec::new();
    let mut next_beat = Instant::now();
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) && lock(state).running() {
        let now = Instant::now();
        let waiting_since = if welcomed {
            unacked.first().map(|(_, at)| *at)
        } else {
            Some(dialled)
        };
        if waiting_since.is_some_and(|t| now.duration_since(t) >= LOST_AFTER) {
            // A handshake that never completes is as lost as a silent link.
            set(state, Link::Lost, true);
            return;
        }
        if welcomed && now >= next_beat {
            seq += 1;
            // Each heartbeat carries the unit's latest reading, for the gateway.
            let temp = {
                let s = lock(state);
                s.firmware.as_ref().map(|fw| s.firmware_temperature(fw))
            };
            let beat = match temp {
                Some(t) => format!("HB {seq} temp={t:.2}\n"),
                None => format!("HB {seq}\n"),
            };
            if stream.write_all(beat.as_bytes()).is_err() {
                set(state, Link::Lost, true);
                return;
            }
            unacked.push((seq, now));
            next_beat = now + HEARTBEAT;
        }
        // A read that times out keeps what it got in `line`; the rest comes with the next read.
        match reader.read_line(&mut line) {
            Ok(0) => {
                set(state, Link::Lost, true);
                return;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => {
                set(state, Link::Lost, true);
                return;
            }
        }
        if !line.ends_with('\n') {
            continue;
        }
        let text = std::mem::take(&mut line);
        let text = text.trim();
        if text == "WELCOME" {
            welcomed = true;
            set(state, Link::Connected, true);
        } else if let Some(acked) = text.strip_prefix("ACK ").and_then(|n| n.parse().ok()) {
            let sent = unacked.iter().find(|(s, _)| *s == acked).map(|(_, at)| *at);
            unacked.retain(|(s, _)| *s > acked);
            if let Some(sent) = sent {
                let rtt = Instant::now().duration_since(sent);
                let link = if rtt > DEGRADED_RTT {
                    Link::Degraded
                } else {
                    Link::Connected
                };
                set(state, link, true);
            }
        }
    }
    set(state, Link::Offline, false);
}

/// Sets the link state; a change the firmware logs goes out on the console.
fn set(state: &Mutex<State>, link: Link, announce: bool) {
    let mut s = lock(state);
    if s.link != link {
        s.link = link;
        if announce {
            s.console_log.push(format!("telemetry: {}", link.word()));
        }
    }
}
