//! Rig leases shared across hosts, through PostgreSQL rather than a server of rigor's own.
//!
//! A lease grants one slot of a rig to one holder (host, pid, CI job) until it expires; the
//! holder renews it with a heartbeat, and every grant carries a fencing token that increases
//! with every grant, so a holder that was frozen or cut off learns that its token is stale and
//! stops before its next step. Advisory locks alone are not enough: a client frozen with SIGSTOP
//! keeps its TCP session and with it its locks, while a lease with an expiry frees itself.
//!
//! The database's clock decides expiry (one clock for every host); a holder also stops on its
//! own clock, a safety margin before the expiry it last renewed, so it stops running steps
//! before the slot can be granted to anyone else even when it cannot reach the database.
//!
//! Waiting is fair: waiters queue per slot, first come first served within a priority.

mod held;
mod schema;
mod wake;

use std::time::{Duration, Instant};

use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{Client, Config, Connection, NoTls, Socket};

pub use held::Lease;

/// Who holds (or wants) a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// A name for people (`rigor run smoke`, a technician's id).
    pub name: String,
    /// The host.
    pub host: String,
    /// The process.
    pub pid: u32,
    /// The CI job, when known (its URL).
    pub job: Option<String>,
}

impl Holder {
    /// This process on this host, named `name`, with the CI job read from GitLab's or GitHub's
    /// environment when there is one.
    pub fn this_process(name: impl Into<String>) -> Holder {
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown-host".to_owned());
        let github = || {
            let server = std::env::var("GITHUB_SERVER_URL").ok()?;
            let repo = std::env::var("GITHUB_REPOSITORY").ok()?;
            let run = std::env::var("GITHUB_RUN_ID").ok()?;
            Some(format!("{server}/{repo}/actions/runs/{run}"))
        };
        Holder {
            name: name.into(),
            host,
            pid: std::process::id(),
            job: std::env::var("CI_JOB_URL").ok().or_else(github),
        }
    }

    /// `name (host pid N, job URL)`.
    pub fn describe(&self) -> String {
        let job = self
            .job
            .as_ref()
            .map(|j| format!(", job {j}"))
            .unwrap_or_default();
        format!("{} ({} pid {}{job})", self.name, self.host, self.pid)
    }
}

/// Which slots a request wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// This slot.
    Slot(String),
    /// Any `count` of these slots.
    Any {
        /// How many.
        count: usize,
        /// The rig's slots.
        of: Vec<String>,
    },
}

/// A request for a lease.
#[derive(Debug, Clone)]
pub struct Want {
    /// The rig.
    pub rig: String,
    /// The slots.
    pub pick: Pick,
    /// How long a grant lasts without renewal.
    pub ttl: Duration,
    /// How long to wait for a busy slot (`None`: do not wait).
    pub wait: Option<Duration>,
    /// Higher goes first among waiters; equal priorities in order of arrival.
    pub priority: i32,
    /// Who asks.
    pub holder: Holder,
}

/// One slot granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The rig.
    pub rig: String,
    /// The slot.
    pub slot: String,
    /// The fencing token: larger than every token granted before.
    pub token: i64,
    /// When it expires unless renewed, by the database's clock.
    pub expires_at: String,
}

/// A slot as the lease table has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLease {
    /// The rig.
    pub rig: String,
    /// The slot.
    pub slot: String,
    /// The current token, if held.
    pub token: Option<i64>,
    /// The holder, if held.
    pub holder: Option<String>,
    /// When it expires, by the database's clock.
    pub expires_at: Option<String>,
    /// Whether that moment has passed (the slot is free for the next grant).
    pub expired: bool,
}

/// One entry of the lease history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Order of entry.
    pub seq: i64,
    /// The slot.
    pub slot: String,
    /// The grant's token.
    pub token: i64,
    /// `granted`, `released`, `expired` or `broken`.
    pub event: String,
    /// The holder.
    pub holder: String,
    /// Why (a broken lease's reason, with who broke it).
    pub reason: Option<String>,
}

/// Why a lease could not be had, kept or given back.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease database's URL does not parse.
    #[error("the lease database URL does not parse")]
    Url(#[source] tokio_postgres::Error),
    /// The lease database could not be reached or refused the login.
    #[error("cannot reach the lease database")]
    Connect(#[source] tokio_postgres::Error),
    /// The lease database did not answer in time.
    #[error("the lease database did not answer within {0:?}")]
    Timeout(Duration),
    /// A statement failed.
    #[error("the lease database refused: {what}")]
    Db {
        /// What was being done.
        what: &'static str,
        /// The database's reason.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The slots are held by others and the request does not wait (or waited long enough).
    #[error("{rig}: {why}")]
    Busy {
        /// The rig.
        rig: String,
        /// Which slots and who holds them.
        why: String,
    },
    /// The lease named is not (or no longer) held under that token.
    #[error("{rig}/{slot} is not held under token {token} (it expired, was released or broken)")]
    NotHeld {
        /// The rig.
        rig: String,
        /// The slot.
        slot: String,
        /// The token given.
        token: i64,
    },
}

fn db(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> LeaseError {
    move |source| LeaseError::Db { what, source }
}

/// The lease database.
#[derive(Debug, Clone)]
pub struct LeaseDb {
    config: Config,
    /// One connection shared by the short statements (list, release, renew); a connection
    /// costs a server process and a password exchange, which many contenders at once feel.
    shared: std::sync::Arc<tokio::sync::Mutex<Option<std::sync::Arc<Client>>>>,
}

/// How long a connection attempt may take (a loaded database host forks and authenticates
/// slowly).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A new connection to the lease database, within [`CONNECT_TIMEOUT`]; the caller drives it.
pub(crate) async fn connect(
    config: &Config,
) -> Result<(Client, Connection<Socket, NoTlsStream>), LeaseError> {
    tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| LeaseError::Timeout(CONNECT_TIMEOUT))?
        .map_err(LeaseError::Connect)
}

/// How long a waiter's place in the queue lasts without being refreshed.
const WAITER_TTL_MS: f64 = 5_000.0;

impl LeaseDb {
    /// Opens the lease database at `url` (`postgres://…`), creating its tables when missing.
    pub async fn open(url: &str) -> Result<LeaseDb, LeaseError> {
        let mut config: Config = url.parse().map_err(LeaseError::Url)?;
        config.connect_timeout(CONNECT_TIMEOUT);
        let leases = LeaseDb {
            config,
            shared: Default::default(),
        };
        let mut client = leases.client().await?;
        let tx = client.transaction().await.map_err(db("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::SCHEMA_LOCK])
            .await
            .map_err(db("lock the lease schema"))?;
        tx.batch_execute(schema::SCHEMA)
            .await
            .map_err(db("create the lease tables"))?;
        tx.commit().await.map_err(db("create the lease tables"))?;
        Ok(leases)
    }

    /// The shared connection, opened again if it was closed.
    pub(crate) async fn shared(&self) -> Result<std::sync::Arc<Client>, LeaseError> {
        let mut shared = self.shared.lock().await;
        if let Some(client) = shared.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        let client = std::sync::Arc::new(self.client().await?);
        *shared = Some(client.clone());
        Ok(client)
    }

    /// A connection of its own (for a transaction).
    pub(crate) async fn client(&self) -> Result<Client, LeaseError> {
        let (client, connection) = connect(&self.config).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("lease database connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// Acquires what `want` asks for, waiting as it says. The lease is not renewed until
    /// [`Lease::start_heartbeat`]; without it, it lasts `want.ttl`.
    pub async fn acquire(&self, want: &Want) -> Result<Lease, LeaseError> {
        // A waiter listens for freed slots on its own connection; one that will not wait needs
        // no ears.
        let (mut client, mut listener) = match want.wait {
            Some(_) => {
                let (client, listener) = wake::listen(&self.config).await?;
                (client, Some(listener))
            }
            None => (self.client().await?, None),
        };
        let started = Instant::now();
        let slots: Vec<String> = match &want.pick {
            Pick::Slot(slot) => vec![slot.clone()],
            Pick::Any { of, .. } => of.clone(),
        };
        let count = match &want.pick {
            Pick::Slot(_) => 1,
            Pick::Any { count, .. } => *count,
        };
        // A waiter for one slot takes its place in that slot's queue.
        let ticket = match (&want.pick, want.wait) {
            (Pick::Slot(slot), Some(_)) => Some(self.enqueue(&client, want, slot).await?),
            _ => None,
        };
        let mut grants: Vec<Grant> = Vec::new();
        let sent = loop {
            let sent = Instant::now();
            for slot in &slots {
                if grants.len() == count || grants.iter().any(|g| &g.slot == slot) {
                    continue;
                }
                if let Some(grant) = try_grant(&mut client, want, slot, ticket).await? {
                    grants.push(grant);
                }
            }
            if grants.len() == count {
                break sent;
            }
            let waited_enough = want.wait.is_none_or(|w| started.elapsed() >= w);
            if waited_enough {
                if let Some(t) = ticket {
                    let _ = client
                        .execute("DELETE FROM rigor_lease_waiters WHERE ticket = $1", &[&t])
                        .await;
                }
                for g in &grants {
                    let _ = held::release_one(&client, g, "released").await;
                }
                return Err(LeaseError::Busy {
                    rig: want.rig.clone(),
                    why: self.busy_reason(&client, &want.rig, &slots).await,
                });
            }
            if let Some(t) = ticket {
                client
                    .execute(
                        "UPDATE rigor_lease_waiters \
                         SET alive_until = now() + $2::float8 * interval '1 millisecond' \
                         WHERE ticket = $1",
                        &[&t, &WAITER_TTL_MS],
                    )
                    .await
                    .map_err(db("refresh a place in the queue"))?;
            }
            let mut nap = wake::AT_MOST;
            if let Some(expiry) = wake::next_expiry(&client, &want.rig, &slots).await? {
                // Just past the expiry: the database decides it by its own clock.
                nap = nap.min(expiry + Duration::from_millis(5));
            }
            if let Some(w) = want.wait {
                nap = nap.min(w.saturating_sub(started.elapsed()));
            }
            let until = tokio::time::Instant::now() + nap;
            match listener.as_mut() {
                Some(listener) => listener.changed(&want.rig, until).await,
                None => tokio::time::sleep_until(until).await,
            }
        };
        Ok(Lease::new(self.clone(), grants, want.ttl, sent))
    }

    async fn enqueue(&self, client: &Client, want: &Want, slot: &str) -> Result<i64, LeaseError> {
        let row = client
            .query_one(
                "INSERT INTO rigor_lease_waiters (rig, slot, priority, holder, alive_until) \
                 VALUES ($1, $2, $3, $4, now() + $5::float8 * interval '1 millisecond') \
                 RETURNING ticket",
                &[
                    &want.rig,
                    &slot,
                    &want.priority,
                    &want.holder.describe(),
                    &WAITER_TTL_MS,
                ],
            )
            .await
            .map_err(db("queue for the slot"))?;
        Ok(row.get(0))
    }

    async fn busy_reason(&self, client: &Client, rig: &str, slots: &[String]) -> String {
        let held = client
            .query(
                "SELECT slot, holder FROM rigor_lease_slots \
                 WHERE rig = $1 AND slot = ANY($2) AND token IS NOT NULL AND expires_at > now() \
                 ORDER BY slot",
                &[&rig, &slots],
            )
            .await
            .unwrap_or_default();
        let held: Vec<String> = held
            .iter()
            .map(|r| {
                format!(
                    "{} is held by {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1)
                )
            })
            .collect();
        if held.is_empty() {
            "others are queued first".to_owned()
        } else {
            held.join("; ")
        }
    }

    /// Every slot with a lease, held or expired, by rig and slot.
    pub async fn list(&self) -> Result<Vec<SlotLease>, LeaseError> {
        let client = self.shared().await?;
        let rows = client
            .query(
                "SELECT rig, slot, token, holder, expires_at::text, coalesce(expires_at <= now(), false) \
                 FROM rigor_lease_slots WHERE token IS NOT NULL ORDER BY rig, slot",
                &[],
            )
            .await
            .map_err(db("list the leases"))?;
        Ok(rows
            .iter()
            .map(|r| SlotLease {
                rig: r.get(0),
                slot: r.get(1),
                token: r.get(2),
                holder: r.get(3),
                expires_at: r.get(4),
                expired: r.get(5),
            })
            .collect())
    }

    /// The history of `rig`'s leases, oldest first.
    pub async fn history(&self, rig: &str) -> Result<Vec<HistoryEntry>, LeaseError> {
        let client = self.shared().await?;
        let rows = client
            .query(
                "SELECT seq, slot, token, event, holder, reason FROM rigor_lease_history \
                 WHERE rig = $1 ORDER BY seq",
                &[&rig],
            )
            .await
            .map_err(db("read the lease history"))?;
        Ok(rows
            .iter()
            .map(|r| HistoryEntry {
                seq: r.get(0),
                slot: r.get(1),
                token: r.get(2),
                event: r.get(3),
                holder: r.get(4),
                reason: r.get(5),
            })
            .collect())
    }

    /// Gives back the lease on `rig`/`slot` granted under `token`.
    pub async fn release(&self, rig: &str, slot: &str, token: i64) -> Result<(), LeaseError> {
        let client = self.shared().await?;
        let grant = Grant {
            rig: rig.to_owned(),
            slot: slot.to_owned(),
            token,
            expires_at: String::new(),
        };
        if held::release_one(&*client, &grant, "released").await? {
            Ok(())
        } else {
            Err(LeaseError::NotHeld {
                rig: rig.to_owned(),
                slot: slot.to_owned(),
                token,
            })
        }
    }

    /// Takes the lease on `rig`/`slot` away from whoever holds it (a technician's act, kept in
    /// the history with `reason` and `by`). Returns the token that was broken.
    pub async fn break_lease(
        &self,
        rig: &str,
        slot: &str,
        reason: &str,
        by: &str,
    ) -> Result<Option<i64>, LeaseError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db("begin"))?;
        let row = tx
            .query_opt(
                "SELECT token, holder FROM rigor_lease_slots \
                 WHERE rig = $1 AND slot = $2 AND token IS NOT NULL FOR UPDATE",
                &[&rig, &slot],
            )
            .await
            .map_err(db("find the lease"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (token, holder): (i64, String) = (row.get(0), row.get(1));
        held::clear(&tx, rig, slot).await?;
        tx.execute(
            "INSERT INTO rigor_lease_history (rig, slot, token, event, holder, reason) \
             VALUES ($1, $2, $3, 'broken', $4, $5)",
            &[&rig, &slot, &token, &holder, &format!("by {by}: {reason}")],
        )
        .await
        .map_err(db("record the break"))?;
        tx.commit().await.map_err(db("break the lease"))?;
        Ok(Some(token))
    }

    /// Takes over a lease acquired earlier (by `rigor lease acquire` in a CI job): checks that
    /// `token` is current and renews it for `ttl`.
    pub async fn adopt(
        &self,
        rig: &str,
        slot: &str,
        token: i64,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let client = self.shared().await?;
        let sent = Instant::now();
        let grant = Grant {
            rig: rig.to_owned(),
            slot: slot.to_owned(),
            token,
            expires_at: String::new(),
        };
        match held::renew_one(&*client, &grant, ttl).await? {
            Some(expires_at) => Ok(Lease::new(
                self.clone(),
                vec![Grant {
                    expires_at,
                    ..grant
                }],
                ttl,
                sent,
            )),
            None => Err(LeaseError::NotHeld {
                rig: rig.to_owned(),
                slot: slot.to_owned(),
                token,
            }),
        }
    }
}

/// Grants `slot` to `want` if it is free (or expired) and no live waiter is ahead of `ticket`.
async fn try_grant(
    client: &mut Client,
    want: &Want,
    slot: &str,
    ticket: Option<i64>,
) -> Result<Option<Grant>, LeaseError> {
    let rig = &want.rig;
    let tx = client.transaction().await.map_err(db("begin"))?;
    tx.execute(
        "INSERT INTO rigor_lease_slots (rig, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[rig, &slot],
    )
    .await
    .map_err(db("register the slot"))?;
    let row = tx
        .query_one(
            "SELECT token, holder, coalesce(expires_at <= now(), true) \
             FROM rigor_lease_slots WHERE rig = $1 AND slot = $2 FOR UPDATE",
            &[rig, &slot],
        )
        .await
        .map_err(db("read the slot"))?;
    let (token, holder, free): (Option<i64>, Option<String>, bool) =
        (row.get(0), row.get(1), row.get(2));
    if !free {
        return Ok(None);
    }
    let first: Option<i64> = tx
        .query_opt(
            "SELECT ticket FROM rigor_lease_waiters \
             WHERE rig = $1 AND slot = $2 AND alive_until > now() \
             ORDER BY priority DESC, ticket LIMIT 1",
            &[rig, &slot],
        )
        .await
        .map_err(db("read the queue"))?
        .map(|r| r.get(0));
    if first.is_some() && first != ticket {
        return Ok(None);
    }
    if let (Some(token), Some(holder)) = (token, holder) {
        tx.execute(
            "INSERT INTO rigor_lease_history (rig, slot, token, event, holder) \
             VALUES ($1, $2, $3, 'expired', $4)",
            &[rig, &slot, &token, &holder],
        )
        .await
        .map_err(db("record the expiry"))?;
    }
    let ttl_ms = want.ttl.as_secs_f64() * 1000.0;
    let pid = i32::try_from(want.holder.pid).unwrap_or(i32::MAX);
    let holder = want.holder.describe();
    let row = tx
        .query_one(
            "UPDATE rigor_lease_slots SET token = nextval('rigor_lease_token'), holder = $3, \
             host = $4, pid = $5, job = $6, priority = $7, granted_at = now(), \
             expires_at = now() + $8::float8 * interval '1 millisecond' \
             WHERE rig = $1 AND slot = $2 RETURNING token, expires_at::text",
            &[
                rig,
                &slot,
                &holder,
                &want.holder.host,
                &pid,
                &want.holder.job,
                &want.priority,
                &ttl_ms,
            ],
        )
        .await
        .map_err(db("grant the slot"))?;
    let grant = Grant {
        rig: rig.clone(),
        slot: slot.to_owned(),
        token: row.get(0),
        expires_at: row.get(1),
    };
    tx.execute(
        "INSERT INTO rigor_lease_history (rig, slot, token, event, holder) \
         VALUES ($1, $2, $3, 'granted', $4)",
        &[rig, &slot, &grant.token, &holder],
    )
    .await
    .map_err(db("record the grant"))?;
    if let Some(t) = ticket {
        tx.execute("DELETE FROM rigor_lease_waiters WHERE ticket = $1", &[&t])
            .await
            .map_err(db("leave the queue"))?;
    }
    tx.commit().await.map_err(db("grant the slot"))?;
    Ok(Some(grant))
}
