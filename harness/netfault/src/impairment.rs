//! What a packet-level link can do to traffic: a richer type than the seam's
//! [`rigor_hal::Impairment`], which converts into it (`From`), so the engine's
//! `net.impair` steps work unchanged while new steps can ask for more.

use std::time::Duration;

use rigor_hal::Impairment;

/// How to impair a link, per direction, with netem's vocabulary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacketImpairment {
    /// Device to network.
    pub up: DirectionImpairment,
    /// Network to device.
    pub down: DirectionImpairment,
    /// What the link's resolver does with the device's DNS queries (UDP port 53).
    pub dns: Option<DnsFailure>,
}

/// What happens to packets going one way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectionImpairment {
    /// Added delay.
    pub delay: Duration,
    /// Delay varies uniformly within ± this (netem's default distribution).
    pub jitter: Duration,
    /// How much each packet's jitter follows the one before, 0 to 100 (netem's correlation).
    pub delay_correlation_percent: f64,
    /// Which packets are lost.
    pub loss: Option<Loss>,
    /// Share of packets delivered twice, 0 to 100.
    pub duplicate_percent: f64,
    /// Share of packets sent at once, overtaking delayed ones, 0 to 100 (needs a delay).
    pub reorder_percent: f64,
    /// Share of packets with one bit flipped past the IP header, 0 to 100.
    pub corrupt_percent: f64,
    /// Rate limit in kbit/s (1000 bit/s), IP bytes counted.
    pub rate_kbps: Option<u32>,
    /// Packets that may wait for the rate limit; more are dropped (tail drop). None: 1000.
    pub queue_limit: Option<usize>,
    /// Packets longer than this (IP bytes) do not pass, as on a path with a smaller MTU: one
    /// with "don't fragment" set is answered with ICMP "fragmentation needed" (so path MTU
    /// discovery works, as through a router), others vanish.
    pub mtu: Option<usize>,
    /// Drop everything this way (a one-way partition; both ways is a full one).
    pub partition: bool,
}

/// A loss model.
#[derive(Debug, Clone, PartialEq)]
pub enum Loss {
    /// Each packet is lost with `percent` probability; `correlation_percent` makes a loss more
    /// likely after a loss (netem's `loss random P C`).
    Random {
        /// Loss probability, 0 to 100.
        percent: f64,
        /// Correlation with the previous packet's draw, 0 to 100.
        correlation_percent: f64,
    },
    /// Gilbert–Elliott bursts (netem's `loss gemodel p r 1-h 1-k`): a good and a bad state, each
    /// with its own loss probability. Mean burst (bad-state) length is `100 / r` packets.
    GilbertElliott {
        /// Good to bad transition probability per packet, 0 to 100.
        p: f64,
        /// Bad to good transition probability per packet, 0 to 100.
        r: f64,
        /// Loss probability in the bad state, 0 to 100 (netem's 1-h).
        loss_bad: f64,
        /// Loss probability in the good state, 0 to 100 (netem's 1-k).
        loss_good: f64,
    },
}

/// How a link's resolver fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFailure {
    /// Every query is answered with SERVFAIL at once.
    ServFail,
    /// Queries go unanswered (they are dropped), so resolvers time out.
    NoAnswer,
}

impl DirectionImpairment {
    /// Whether this direction changes nothing.
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }
}

impl From<&Impairment> for DirectionImpairment {
    fn from(i: &Impairment) -> Self {
        Self {
            delay: i.latency.unwrap_or_default(),
            jitter: i.jitter.unwrap_or_default(),
            loss: i.loss_percent.map(|percent| Loss::Random {
                percent,
                correlation_percent: 0.0,
            }),
            rate_kbps: i.bandwidth_kbps.filter(|k| *k > 0),
            partition: i.partition,
            ..Self::default()
        }
    }
}

/// The seam's impairment applies the same way in both directions, as the TCP proxy does.
impl From<&Impairment> for PacketImpairment {
    fn from(i: &Impairment) -> Self {
        let one_way = DirectionImpairment::from(i);
        Self {
            up: one_way.clone(),
            down: one_way,
            dns: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seam_impairment_converts_to_both_directions() {
        let p = PacketImpairment::from(&Impairment {
            latency: Some(Duration::from_millis(20)),
            jitter: Some(Duration::from_millis(5)),
            loss_percent: Some(2.5),
            bandwidth_kbps: Some(0),
            partition: false,
        });
        assert_eq!(p.up, p.down);
        assert_eq!(p.up.delay, Duration::from_millis(20));
        assert_eq!(p.up.jitter, Duration::from_millis(5));
        assert_eq!(
            p.up.loss,
            Some(Loss::Random {
                percent: 2.5,
                correlation_percent: 0.0
            })
        );
        // A zero cap means "no cap" at the seam, not "nothing passes".
        assert_eq!(p.up.rate_kbps, None);
        assert!(PacketImpairment::from(&Impairment::default()).up.is_clear());
    }
}
