//! The per-direction decisions of the packet engine, kept free of I/O so they can be checked
//! statistically in microseconds: what to drop, corrupt, copy, and when each packet leaves.
//!
//! The order follows netem's `netem_enqueue`: partition and MTU first, then loss, corruption,
//! duplication, the rate limit's queue, and last the delay (a duplicate gets its own).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::impairment::{DirectionImpairment, Loss};

/// A direction's queue limit when the impairment names none (netem's default `limit`).
const DEFAULT_QUEUE_LIMIT: usize = 1000;

/// A packet and when it leaves for the other side.
pub type Departure = (Instant, Vec<u8>);

/// What the shaper did with packets, counted; the tests' and reports' view of a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets read from the sending side.
    pub received: u64,
    /// Packets written to the receiving side (duplicates included; counted by the link, not
    /// the shaper).
    pub delivered: u64,
    /// Dropped by the loss model.
    pub lost: u64,
    /// Dropped by a partition.
    pub partitioned: u64,
    /// Dropped for exceeding the MTU.
    pub too_big: u64,
    /// Dropped because the rate limit's queue was full.
    pub queue_full: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets with a bit flipped.
    pub corrupted: u64,
    /// Packets sent without their delay.
    pub reordered: u64,
}

/// One direction's state: random draws with memory, the Gilbert–Elliott state, the rate
/// limiter's clock and queue.
pub struct Shaper {
    rng: fastrand::Rng,
    last_delay_draw: f64,
    last_loss_draw: f64,
    bad_state: bool,
    link_free: Option<Instant>,
    backlog: VecDeque<Instant>,
    /// What it has done so far.
    pub stats: DirectionStats,
}

impl Shaper {
    /// A shaper whose random draws follow `seed`, so a test can replay them.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            last_delay_draw: 0.5,
            last_loss_draw: 0.0,
            bad_state: false,
            link_free: None,
            backlog: VecDeque::new(),
            stats: DirectionStats::default(),
        }
    }

    /// A uniform draw in [0, 1) that follows the previous one by `correlation_percent` (netem's
    /// `get_crandom`).
    fn correlated(&mut self, last: f64, correlation_percent: f64) -> f64 {
        let rho = (correlation_percent / 100.0).clamp(0.0, 1.0);
        let fresh = self.rng.f64();
        rho * last + (1.0 - rho) * fresh
    }

    fn chance(&mut self, percent: f64) -> bool {
        percent > 0.0 && self.rng.f64() * 100.0 < percent
    }

    fn is_lost(&mut self, loss: &Loss) -> bool {
        match *loss {
            Loss::Random {
                percent,
                correlation_percent,
            } => {
                let draw = self.correlated(self.last_loss_draw, correlation_percent);
                self.last_loss_draw = draw;
                draw * 100.0 < percent
            }
            Loss::GilbertElliott {
                p,
                r,
                loss_bad,
                loss_good,
            } => {
                // netem moves between states first, then draws the loss in the new state.
                self.bad_state = if self.bad_state {
                    !self.chance(r)
                } else {
                    self.chance(p)
                };
                self.chance(if self.bad_state { loss_bad } else { loss_good })
            }
        }
    }

    /// Decides the fate of `packet` arriving at `now`: none, one or two (packet, departure time)
    /// pairs.
    pub fn shape(
        &mut self,
        imp: &DirectionImpairment,
        now: Instant,
        packet: Vec<u8>,
    ) -> Vec<Departure> {
        self.stats.received += 1;
        if imp.partition {
            self.stats.partitioned += 1;
            return Vec::new();
        }
        if imp.mtu.is_some_and(|mtu| packet.len() > mtu) {
            self.stats.too_big += 1;
            return Vec::new();
        }
        if let Some(loss) = &imp.loss
            && self.is_lost(loss)
        {
            self.stats.lost += 1;
            return Vec::new();
        }
        let mut packet = packet;
        if self.chance(imp.corrupt_percent) {
            self.corrupt(&mut packet);
            self.stats.corrupted += 1;
        }
        let mut copies = vec![packet];
        if self.chance(imp.duplicate_percent) {
            copies.push(copies[0].clone());
            self.stats.duplicated += 1;
        }
        let mut out = Vec::with_capacity(copies.len());
        for copy in copies {
            let Some(departure) = self.rate_limit(imp, now, copy.len()) else {
                self.stats.queue_full += 1;
                continue;
            };
            let at = if !imp.delay.is_zero() && self.chance(imp.reorder_percent) {
                self.stats.reordered += 1;
                departure
            } else {
                departure + self.delay(imp)
            };
            out.push((at, copy));
        }
        out
    }

    /// When a packet of `len` bytes finishes crossing the rate-limited link, or `None` if the
    /// queue in front of it is full.
    fn rate_limit(
        &mut self,
        imp: &DirectionImpairment,
        now: Instant,
        len: usize,
    ) -> Option<Instant> {
        let Some(kbps) = imp.rate_kbps.filter(|k| *k > 0) else {
            self.link_free = None;
            self.backlog.clear();
            return Some(now);
        };
        while self.backlog.front().is_some_and(|t| *t <= now) {
            self.backlog.pop_front();
        }
        if self.backlog.len() >= imp.queue_limit.unwrap_or(DEFAULT_QUEUE_LIMIT) {
            return None;
        }
        let start = self.link_free.map_or(now, |free| free.max(now));
        let departure =
            start + Duration::from_secs_f64(len as f64 * 8.0 / (f64::from(kbps) * 1000.0));
        self.link_free = Some(departure);
        self.backlog.push_back(departure);
        Some(departure)
    }

    fn delay(&mut self, imp: &DirectionImpairment) -> Duration {
        if imp.jitter.is_zero() {
            return imp.delay;
        }
        let draw = self.correlated(self.last_delay_draw, imp.delay_correlation_percent);
        self.last_delay_draw = draw;
        // Uniform within ± jitter, netem's distribution when none is named; never negative.
        let offset = imp.jitter.as_secs_f64() * (2.0 * draw - 1.0);
        Duration::from_secs_f64((imp.delay.as_secs_f64() + offset).max(0.0))
    }

    /// Flips one bit past the IP header, so the transport checksum (not the IP one) catches it,
    /// as a receiver would see a payload damaged on the wire: IP still delivers it to the socket
    /// layer, where UDP and TCP count a checksum error.
    fn corrupt(&mut self, packet: &mut [u8]) {
        let header = match packet.first().map(|b| b >> 4) {
            Some(4) => usize::from(packet[0] & 0x0f) * 4,
            Some(6) => 40,
            _ => 0,
        };
        let from = if header < packet.len() { header } else { 0 };
        if packet.len() > from {
            let i = self.rng.usize(from..packet.len());
            packet[i] ^= 1 << self.rng.u8(0..8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(imp: &DirectionImpairment, n: usize) -> (Shaper, Vec<Vec<Departure>>) {
        let mut shaper = Shaper::new(7);
        let now = Instant::now();
        let out = (0..n)
            .map(|i| shaper.shape(imp, now, (i as u32).to_be_bytes().to_vec()))
            .collect();
        (shaper, out)
    }

    #[test]
    fn gilbert_elliott_bursts_have_the_model_mean_length() {
        let imp = DirectionImpairment {
            loss: Some(Loss::GilbertElliott {
                p: 1.0,
                r: 25.0,
                loss_bad: 100.0,
                loss_good: 0.0,
            }),
            ..DirectionImpairment::default()
        };
        let (shaper, out) = run(&imp, 200_000);
        let mut bursts = Vec::new();
        let mut run_len = 0;
        for o in &out {
            if o.is_empty() {
                run_len += 1;
            } else if run_len > 0 {
                bursts.push(run_len);
                run_len = 0;
            }
        }
        let mean = bursts.iter().sum::<usize>() as f64 / bursts.len() as f64;
        assert!((mean - 4.0).abs() < 0.2, "mean burst {mean}");
        // Stationary loss p / (p + r) = 1 / 26.
        let rate = shaper.stats.lost as f64 / 200_000.0;
        assert!((rate - 1.0 / 26.0).abs() < 0.004, "loss {rate}");
    }

    #[test]
    fn correlated_jitter_stays_in_band_and_follows_the_previous_draw() {
        let imp = DirectionImpairment {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            delay_correlation_percent: 90.0,
            ..DirectionImpairment::default()
        };
        let mut shaper = Shaper::new(1);
        let now = Instant::now();
        let delays: Vec<f64> = (0..10_000)
            .map(|_| (shaper.shape(&imp, now, vec![0; 20])[0].0 - now).as_secs_f64() * 1e3)
            .collect();
        assert!(delays.iter().all(|d| (40.0..=60.0).contains(d)));
        let step: f64 =
            delays.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / delays.len() as f64;
        // Uncorrelated uniform draws over 20 ms differ by 6.7 ms on average; at 90 % far less.
        assert!(step < 1.5, "mean step {step} ms");
    }

    #[test]
    fn the_rate_limit_spaces_packets_and_its_queue_drops_the_excess() {
        let imp = DirectionImpairment {
            rate_kbps: Some(1000),
            queue_limit: Some(10),
            ..DirectionImpairment::default()
        };
        let (shaper, out) = run(&imp, 50);
        let sent: Vec<Instant> = out.iter().flatten().map(|(t, _)| *t).collect();
        assert_eq!(sent.len(), 10);
        assert_eq!(shaper.stats.queue_full, 40);
        // 4 bytes at 1 Mbit/s take 32 µs each.
        let gap = sent[1] - sent[0];
        assert!(gap.as_micros().abs_diff(32) <= 1, "{gap:?}");
    }

    #[test]
    fn corruption_spares_the_ip_header() {
        let mut shaper = Shaper::new(3);
        for _ in 0..1000 {
            let mut p = vec![0u8; 60];
            p[0] = 0x45;
            shaper.corrupt(&mut p);
            assert_eq!(p[0], 0x45);
            assert!(p[1..20].iter().all(|b| *b == 0));
            assert_eq!(p[20..].iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        }
    }
}
