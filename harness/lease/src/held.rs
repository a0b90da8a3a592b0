//! A lease while it is held: its heartbeat, and the gate that stops a run's steps once the
//! lease is lost or about to expire by this host's own clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rigor_runner::engine::StepGate;
use tokio_postgres::{Client, GenericClient};

use crate::{Grant, LeaseDb, LeaseError, db};

/// Granted slots, until released or lost.
#[derive(Debug)]
pub struct Lease {
    db: LeaseDb,
    grants: Vec<Grant>,
    ttl: Duration,
    state: Arc<State>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug)]
struct State {
    /// Why the lease is lost, once it is.
    lost: Mutex<Option<String>>,
    /// Steps stop at this moment unless a renewal moves it: the expiry last granted, less the
    /// safety margin, measured from when the request was sent (so never later than the
    /// database's own expiry).
    valid_until: Mutex<Instant>,
}

/// How much earlier than the database's expiry a holder stops on its own clock.
fn margin(ttl: Duration) -> Duration {
    ttl / 4
}

impl Lease {
    pub(crate) fn new(db: LeaseDb, grants: Vec<Grant>, ttl: Duration, sent: Instant) -> Lease {
        Lease {
            db,
            grants,
            ttl,
            state: Arc::new(State {
                lost: Mutex::new(None),
                valid_until: Mutex::new(sent + ttl - margin(ttl)),
            }),
            heartbeat: None,
        }
    }

    /// The slots granted, with their fencing tokens.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Renews the lease every quarter of its time to live, for as long as it is held; once a
    /// renewal finds a token stale, the lease is lost for good.
    pub fn start_heartbeat(&mut self) {
        if self.heartbeat.is_some() {
            return;
        }
        let (db, grants, ttl, state) = (
            self.db.clone(),
            self.grants.clone(),
            self.ttl,
            self.state.clone(),
        );
        self.heartbeat = Some(tokio::spawn(heartbeat(db, grants, ttl, state)));
    }

    /// What a run asks before each step.
    pub fn gate(&self) -> Arc<dyn StepGate> {
        Arc::new(Gate(self.state.clone()))
    }

    /// Why the lease is no longer good for running steps, if it is not.
    pub fn lost(&self) -> Option<String> {
        Gate(self.state.clone()).closed()
    }

    /// Gives the slots back (those still held under their tokens).
    pub async fn release(mut self) -> Result<(), LeaseError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let client = self.db.shared().await?;
        for g in &self.grants {
            release_one(&*client, g, "released").await?;
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

#[derive(Debug)]
struct Gate(Arc<State>);

impl StepGate for Gate {
    fn closed(&self) -> Option<String> {
        if let Some(why) = self
            .0
            .lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Some(why);
        }
        let until = *self
            .0
            .valid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (Instant::now() >= until).then(|| {
            "the rig lease could not be renewed before it expires (by this host's clock, less \
             the safety margin): another holder may be granted the slot"
                .to_owned()
        })
    }
}

async fn heartbeat(db: LeaseDb, grants: Vec<Grant>, ttl: Duration, state: Arc<State>) {
    let every = ttl / 4;
    let mut client: Option<Client> = None;
    loop {
        tokio::time::sleep(every).await;
        let sent = Instant::now();
        let round = async {
            if client.is_none() {
                client = Some(db.client().await?);
            }
            let Some(c) = client.as_ref() else {
                return Ok(None);
            };
            for g in &grants {
                if renew_one(c, g, ttl).await?.is_none() {
                    return Ok(Some(g));
                }
            }
            Ok::<_, LeaseError>(None)
        };
        match tokio::time::timeout(every, round).await {
            Ok(Ok(None)) => {
                *state
                    .valid_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = sent + ttl - margin(ttl);
            }
            Ok(Ok(Some(g))) => {
                let why = format!(
                    "the rig lease on {}/{} was lost: token {} is stale (it expired or was broken)",
                    g.rig, g.slot, g.token
                );
                tracing::warn!("{why}");
                *state.lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!("cannot renew the rig lease: {e}");
                client = None;
            }
            Err(_) => {
                tracing::warn!("renewing the rig lease took longer than {every:?}");
                client = None;
            }
        }
    }
}

/// The columns of a slot nobody holds.
const FREE: &str = "token = NULL, holder = NULL, host = NULL, pid = NULL, job = NULL, \
                    priority = NULL, granted_at = NULL, expires_at = NULL";

/// Renews `grant` for `ttl` if its token is still current; returns the new expiry.
pub(crate) async fn renew_one(
    client: &impl GenericClient,
    grant: &Grant,
    ttl: Duration,
) -> Result<Option<String>, LeaseError> {
    let ttl_ms = ttl.as_secs_f64() * 1000.0;
    let row = client
        .query_opt(
            "UPDATE rigor_lease_slots \
             SET expires_at = now() + $4::float8 * interval '1 millisecond' \
             WHERE rig = $1 AND slot = $2 AND token = $3 AND expires_at > now() \
             RETURNING expires_at::text",
            &[&grant.rig, &grant.slot, &grant.token, &ttl_ms],
        )
        .await
        .map_err(db("renew the lease"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Clears `grant`'s slot if it is still held under its token, with `event` in the history.
pub(crate) async fn release_one(
    client: &impl GenericClient,
    grant: &Grant,
    event: &str,
) -> Result<bool, LeaseError> {
    let row = client
        .query_opt(
            &format!(
                "WITH old AS (SELECT holder FROM rigor_lease_slots \
                              WHERE rig = $1 AND slot = $2 AND token = $3 FOR UPDATE), \
                 cleared AS (UPDATE rigor_lease_slots s SET {FREE} \
                             FROM old WHERE s.rig = $1 AND s.slot = $2 RETURNING old.holder) \
                 INSERT INTO rigor_lease_history (rig, slot, token, event, holder) \
                 SELECT $1, $2, $3, $4, holder FROM cleared RETURNING seq"
            ),
            &[&grant.rig, &grant.slot, &grant.token, &event],
        )
        .await
        .map_err(db("release the lease"))?;
    Ok(row.is_some())
}

/// Empties a slot's row (the caller records why).
pub(crate) async fn clear(
    client: &impl GenericClient,
    rig: &str,
    slot: &str,
) -> Result<(), LeaseError> {
    client
        .execute(
            &format!("UPDATE rigor_lease_slots SET {FREE} WHERE rig = $1 AND slot = $2"),
            &[&rig, &slot],
        )
        .await
        .map_err(db("clear the slot"))?;
    Ok(())
}
