//! Rig leases shared across hosts (through PostgreSQL, [`rigor_lease`]) for a station's slots:
//! taken before any slot is opened, renewed while the runs go on, asked before every step.

use std::time::Duration;

use rigor_lease::{Holder, Lease, LeaseDb, Pick, Want};

use crate::StationError;

/// How a run holds its slots' leases.
#[derive(Debug, Clone)]
pub struct LeasePolicy {
    /// The lease database, `postgres://…`.
    pub url: String,
    /// How long a grant lasts without renewal (renewed every quarter of it).
    pub ttl: Duration,
    /// How long to wait for busy slots (`None`: fail at once).
    pub wait: Option<Duration>,
    /// Leases acquired before (`rigor lease acquire` in a CI job), by slot: their tokens.
    pub tokens: Vec<(String, i64)>,
    /// Higher waits less.
    pub priority: i32,
}

/// The leases a run holds, one per slot.
pub struct HeldLeases {
    leases: Vec<Lease>,
    /// Leases adopted from a CI job are left for it to release.
    adopted: bool,
}

impl HeldLeases {
    /// The lease of `slot`'s gate, for its run.
    pub fn gate(&self, slot: &str) -> Option<std::sync::Arc<dyn rigor_runner::engine::StepGate>> {
        self.leases
            .iter()
            .find(|l| l.grants().iter().any(|g| g.slot == slot))
            .map(Lease::gate)
    }

    /// Gives the leases back, unless they were adopted.
    pub async fn release(self) -> Result<(), StationError> {
        if self.adopted {
            return Ok(());
        }
        for lease in self.leases {
            lease.release().await.map_err(StationError::Lease)?;
        }
        Ok(())
    }
}

/// Takes (or adopts) the leases of `slots` on `rig` and starts their heartbeats.
pub async fn hold(
    policy: &LeasePolicy,
    rig: &str,
    slots: &[String],
    holder: &str,
) -> Result<HeldLeases, StationError> {
    let db = LeaseDb::open(&policy.url)
        .await
        .map_err(StationError::Lease)?;
    let mut leases = Vec::new();
    let adopted = !policy.tokens.is_empty();
    for slot in slots {
        let mut lease = match policy.tokens.iter().find(|(s, _)| s == slot) {
            Some((_, token)) => db.adopt(rig, slot, *token, policy.ttl).await,
            None if adopted => {
                return Err(StationError::Lease(rigor_lease::LeaseError::Busy {
                    rig: rig.to_owned(),
                    why: format!("slot {slot} has no lease token given"),
                }));
            }
            None => {
                let want = Want {
                    rig: rig.to_owned(),
                    pick: Pick::Slot(slot.clone()),
                    ttl: policy.ttl,
                    wait: policy.wait,
                    priority: policy.priority,
                    holder: Holder::this_process(holder),
                };
                db.acquire(&want).await
            }
        }
        .map_err(StationError::Lease)?;
        lease.start_heartbeat();
        leases.push(lease);
    }
    Ok(HeldLeases { leases, adopted })
}
