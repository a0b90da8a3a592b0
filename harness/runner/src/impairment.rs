//! Impairments that end by themselves (`net.impair: { ..., for: 10s }`): a timer clears the link
//! when the time is up, unless something newer was applied or cleared on it meanwhile, which the
//! timer must not undo.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rigor_hal::{HalError, Impairment, NetImpairment};

/// Each link's count of changes, so a timer knows whether its impairment is still the one on.
#[derive(Debug, Default)]
pub(crate) struct Impairments {
    changes: HashMap<String, Arc<AtomicU64>>,
}

impl Impairments {
    fn bump(&mut self, link: &str) -> (Arc<AtomicU64>, u64) {
        let counter = self.changes.entry(link.to_owned()).or_default().clone();
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        (counter, now)
    }

    /// Applies `impairment` to `point`; with `duration`, clears it after that long if it is still
    /// the latest change on the link.
    pub(crate) async fn apply(
        &mut self,
        link: &str,
        point: Arc<dyn NetImpairment>,
        impairment: &Impairment,
        duration: Option<Duration>,
    ) -> Result<(), HalError> {
        let (counter, this) = self.bump(link);
        point.apply(impairment).await?;
        if let Some(d) = duration {
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                if counter.load(Ordering::SeqCst) == this {
                    // At the latest, the safe state at the end of the run clears it too.
                    let _ = point.clear().await;
                }
            });
        }
        Ok(())
    }

    /// Clears `point`; a pending timer of an earlier impairment then does nothing.
    pub(crate) async fn clear(
        &mut self,
        link: &str,
        point: &Arc<dyn NetImpairment>,
    ) -> Result<(), HalError> {
        self.bump(link);
        point.clear().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rigor_hal::fake::FakeNet;

    #[tokio::test(start_paused = true)]
    async fn a_timed_impairment_ends_by_itself_but_never_undoes_a_newer_one() {
        let net = FakeNet::default();
        let point: Arc<dyn NetImpairment> = Arc::new(net.clone());
        let mut imps = Impairments::default();
        let partition = Impairment {
            partition: true,
            ..Impairment::default()
        };
        let latency = Impairment {
            latency: Some(Duration::from_millis(200)),
            ..Impairment::default()
        };
        // A 10 s partition, replaced after 3 s by a lasting latency.
        imps.apply(
            "uplink",
            point.clone(),
            &partition,
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        imps.apply("uplink", point.clone(), &latency, None)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(net.log(), [Some(partition.clone()), Some(latency)]);

        // Alone, it ends when its time is up.
        imps.apply(
            "uplink",
            point.clone(),
            &partition,
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(net.log().last(), Some(&None));
    }
}
