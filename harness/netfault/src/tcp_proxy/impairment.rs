//! rigor's impairment seam over the proxy: the impairment point of rigs without kernel netem
//! (this machine's kernel lacks it) and of the virtual bench.
//!
//! The device's endpoint resolves to the proxy; the proxy forwards to the real upstream. Over a
//! byte stream, impairments show as the application would see them through TCP: latency and
//! jitter delay each chunk (order kept); loss shows as retransmission stalls (a lost segment
//! costs a retransmission timeout); a bandwidth cap paces chunks; a partition holds all traffic
//! (a cut cable: nothing arrives, connections stall) until it is lifted. Each acts on both
//! directions.

use std::net::SocketAddr;
use std::time::Duration;

use rigor_hal::{HalError, Impairment, NetImpairment, async_trait};

use super::proxy::{Proxy, Rules};
use super::rule::{Effect, Rule, Stream};

/// What a lost segment costs: TCP's minimum retransmission timeout.
const RETRANSMIT_PENALTY: Duration = Duration::from_millis(200);

/// A running impairment proxy.
pub struct ImpairmentProxy {
    proxy: Proxy,
}

impl ImpairmentProxy {
    /// Listens on `listen` and forwards each connection to `upstream` (`host:port`).
    pub async fn start(listen: SocketAddr, upstream: impl Into<String>) -> std::io::Result<Self> {
        Self::on(listen, upstream.into(), Rules::default()).await
    }

    async fn on(listen: SocketAddr, upstream: String, rules: Rules) -> std::io::Result<Self> {
        let proxy = Proxy::start(&listen.to_string(), &upstream, rules).await?;
        Ok(Self { proxy })
    }

    /// Another way through the same link: listens on `listen` and forwards to `upstream`, under
    /// the impairments of this proxy (applied through either), as a netem box impairs every
    /// destination of a device alike.
    pub async fn sibling(
        &self,
        listen: SocketAddr,
        upstream: impl Into<String>,
    ) -> std::io::Result<Self> {
        Self::on(listen, upstream.into(), self.proxy.rules().clone()).await
    }

    /// Where the proxy listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.proxy.listen()
    }

    /// What it forwards to.
    pub fn upstream(&self) -> &str {
        self.proxy.upstream()
    }
}

#[async_trait]
impl NetImpairment for ImpairmentProxy {
    async fn apply(&self, impairment: &Impairment) -> Result<(), HalError> {
        self.proxy.rules().set(rules(impairment));
        Ok(())
    }
    async fn clear(&self) -> Result<(), HalError> {
        self.proxy.rules().set(Vec::new());
        Ok(())
    }
}

/// The rules that impair both directions as `i` says; none when it changes nothing.
fn rules(i: &Impairment) -> Vec<Rule> {
    let latency = i.latency.unwrap_or_default();
    let jitter = i.jitter.unwrap_or_default();
    let mut effects = Vec::new();
    if !(latency + jitter).is_zero() {
        // rigor's jitter adds 0 to `jitter` on top of the latency: the same spread as a
        // latency half a jitter longer, give or take half a jitter.
        let half = jitter / 2;
        effects.push((
            "latency",
            Effect::Latency {
                latency: latency + half,
                jitter: half,
            },
        ));
    }
    if let Some(percent) = i.loss_percent.filter(|p| *p > 0.0) {
        effects.push((
            "loss",
            Effect::RetransmitLoss {
                percent,
                stall: RETRANSMIT_PENALTY.max(latency * 2),
            },
        ));
    }
    if let Some(kbps) = i.bandwidth_kbps.filter(|k| *k > 0) {
        effects.push((
            "bandwidth",
            Effect::Bandwidth {
                bytes_per_sec: f64::from(kbps) * 1000.0 / 8.0,
            },
        ));
    }
    if i.partition {
        effects.push(("partition", Effect::Partition));
    }
    [Stream::Upstream, Stream::Downstream]
        .into_iter()
        .flat_map(|stream| {
            effects.iter().map(move |(name, effect)| Rule {
                name: (*name).to_owned(),
                stream,
                toxicity: 1.0,
                effect: effect.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_impairment_is_no_rule_so_bytes_take_the_direct_path() {
        assert_eq!(rules(&Impairment::default()), Vec::new());
        let zero = Impairment {
            latency: Some(Duration::ZERO),
            loss_percent: Some(0.0),
            bandwidth_kbps: Some(0),
            ..Impairment::default()
        };
        assert_eq!(rules(&zero), Vec::new());
    }

    #[test]
    fn each_impairment_acts_both_ways_in_latency_loss_bandwidth_partition_order() {
        let all = rules(&Impairment {
            latency: Some(Duration::from_millis(150)),
            jitter: Some(Duration::from_millis(20)),
            loss_percent: Some(5.0),
            bandwidth_kbps: Some(800),
            partition: true,
        });
        let effects = [
            Effect::Latency {
                latency: Duration::from_millis(160),
                jitter: Duration::from_millis(10),
            },
            // Twice a latency longer than the minimum timeout.
            Effect::RetransmitLoss {
                percent: 5.0,
                stall: Duration::from_millis(300),
            },
            Effect::Bandwidth {
                bytes_per_sec: 100_000.0,
            },
            Effect::Partition,
        ];
        let want: Vec<(Stream, Effect)> = [Stream::Upstream, Stream::Downstream]
            .into_iter()
            .flat_map(|s| effects.iter().map(move |e| (s, e.clone())))
            .collect();
        let got: Vec<(Stream, Effect)> = all.into_iter().map(|r| (r.stream, r.effect)).collect();
        assert_eq!(got, want);
    }
}
