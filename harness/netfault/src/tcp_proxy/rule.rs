//! What acts on a proxied stream: the one vocabulary both fronts translate into, toxiproxy's
//! toxics ([`crate::toxiproxy::Toxic`]) and rigor's link impairment ([`rigor_hal::Impairment`]).

use std::time::Duration;

/// Which way bytes flow through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Client to upstream server.
    Upstream,
    /// Upstream server to client (toxiproxy's default).
    Downstream,
}

impl Stream {
    /// toxiproxy's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }
}

/// What a rule does to the chunks of its stream, in the order rules are listed.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Delivers each chunk at its arrival plus `latency` ± `jitter` (uniform, never before its
    /// arrival); chunks keep their order.
    Latency {
        /// The middle of the spread.
        latency: Duration,
        /// Half the spread.
        jitter: Duration,
    },
    /// Loss over a byte stream: with `percent` chance a chunk stalls `stall` longer, as a lost
    /// segment costs TCP a retransmission timeout.
    RetransmitLoss {
        /// The chance per chunk, 0 to 100.
        percent: f64,
        /// What a loss costs.
        stall: Duration,
    },
    /// Paces the stream to `bytes_per_sec`.
    Bandwidth {
        /// Bytes per second; 0 paces nothing.
        bytes_per_sec: f64,
    },
    /// Holds every byte (and new connections) until the rule goes: a cut cable.
    Partition,
    /// Delays the close (FIN) by this long.
    SlowClose(Duration),
    /// Passes no data, and closes the connection after this long (`None`: never).
    Timeout(Option<Duration>),
    /// Resets the connection (RST) this long after the rule was first seen.
    ResetPeer(Duration),
    /// Closes the connection once this many bytes have passed.
    LimitData(u64),
}

/// One effect on one stream, acting on a share of the connections.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name: a connection draws once per name whether the rule acts on it.
    pub name: String,
    /// The stream it acts on.
    pub stream: Stream,
    /// The share of connections it acts on, 0 to 1.
    pub toxicity: f64,
    /// What it does.
    pub effect: Effect,
}
