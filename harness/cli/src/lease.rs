//! `rigor lease`: rig leases shared across hosts, by hand or from a CI job.

use std::time::Duration;

use rigor_lease::{Holder, LeaseDb, LeaseError, Pick, Want};

use crate::exit_code;

/// The lease database every lease command uses.
#[derive(Debug, clap::Args)]
pub struct Db {
    /// The lease database, `postgres://…` (also `RIGOR_LEASE_DB`).
    #[arg(long = "lease-db", value_name = "URL", env = "RIGOR_LEASE_DB")]
    pub url: String,
}

/// How `rigor run` and `rigor test` hold their slots through shared leases.
#[derive(Debug, clap::Args)]
pub struct LeaseArgs {
    /// Hold the slots through leases in this PostgreSQL database, shared by every host of the
    /// rack (also `RIGOR_LEASE_DB`): acquired before any slot is opened, renewed while the runs
    /// go on, checked before every step.
    #[arg(long, value_name = "URL", env = "RIGOR_LEASE_DB")]
    pub lease_db: Option<String>,
    /// How long a lease lasts without renewal; a run that cannot renew stops a quarter of it
    /// before it expires.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub lease_ttl: Duration,
    /// Wait this long for busy slots (first come, first served) instead of failing at once.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub lease_wait: Option<Duration>,
}

impl LeaseArgs {
    /// The policy, when a lease database is given; `tokens` are leases acquired earlier.
    pub fn policy(
        &self,
        tokens: Vec<(String, i64)>,
    ) -> Option<rigor_station::rig_lease::LeasePolicy> {
        self.lease_db
            .as_ref()
            .map(|url| rigor_station::rig_lease::LeasePolicy {
                url: url.clone(),
                ttl: self.lease_ttl,
                wait: self.lease_wait,
                tokens,
                priority: 0,
            })
    }
}

/// What `rigor lease` does.
#[derive(Debug, clap::Subcommand)]
pub enum LeaseCommand {
    /// Take slots of a rig for a while (a CI job's lease: not renewed, it expires on its own);
    /// prints `RIG SLOT TOKEN EXPIRES` per slot.
    Acquire {
        /// The lease database.
        #[command(flatten)]
        db: Db,
        /// The rig.
        #[arg(long)]
        rig: String,
        /// The slot.
        #[arg(long, required_unless_present = "any", conflicts_with = "any")]
        slot: Option<String>,
        /// Any N slots of these (`--any 2 --of slot1,slot2,slot3`).
        #[arg(long, value_name = "N", requires = "of")]
        any: Option<usize>,
        /// The slots `--any` picks from.
        #[arg(long, value_delimiter = ',')]
        of: Vec<String>,
        /// How long the lease lasts.
        #[arg(long = "for", value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Wait for busy slots, first come first served (optionally at most this long).
        #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "100years", value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
        /// Higher waits less.
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// Who holds it, for people (default: the CI job or `rigor lease`).
        #[arg(long)]
        holder: Option<String>,
    },
    /// The leases held now.
    List {
        /// The lease database.
        #[command(flatten)]
        db: Db,
    },
    /// Give a lease back.
    Release {
        /// The lease database.
        #[command(flatten)]
        db: Db,
        /// The rig.
        #[arg(long)]
        rig: String,
        /// The slot.
        #[arg(long)]
        slot: String,
        /// The token `acquire` printed.
        #[arg(long)]
        token: i64,
    },
    /// Take a lease away from its holder (a technician's act, kept in the history); its
    /// holder stops before its next step.
    Break {
        /// The lease database.
        #[command(flatten)]
        db: Db,
        /// The rig.
        #[arg(long)]
        rig: String,
        /// The slot.
        #[arg(long)]
        slot: String,
        /// Why, for the history.
        #[arg(long)]
        reason: String,
        /// Who (the technician's id).
        #[arg(long)]
        by: String,
    },
}

/// Runs the command and returns the exit code.
pub async fn run(command: LeaseCommand) -> i32 {
    match act(command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", exit_code::chain(&e));
            match e {
                LeaseError::Busy { .. } | LeaseError::NotHeld { .. } => exit_code::TEST_FAILED,
                LeaseError::Url(_) => exit_code::USAGE,
                _ => exit_code::INFRASTRUCTURE,
            }
        }
    }
}

async fn act(command: LeaseCommand) -> Result<i32, LeaseError> {
    match command {
        LeaseCommand::Acquire {
            db,
            rig,
            slot,
            any,
            of,
            ttl,
            wait,
            priority,
            holder,
        } => {
            let pick = match (slot, any) {
                (Some(slot), _) => Pick::Slot(slot),
                (None, count) => Pick::Any {
                    count: count.unwrap_or(1),
                    of,
                },
            };
            let holder = holder.unwrap_or_else(|| "rigor lease".to_owned());
            let want = Want {
                rig,
                pick,
                ttl,
                wait,
                priority,
                holder: Holder::this_process(holder),
            };
            let lease = LeaseDb::open(&db.url).await?.acquire(&want).await?;
            for g in lease.grants() {
                println!("{} {} {} {}", g.rig, g.slot, g.token, g.expires_at);
            }
            Ok(exit_code::SUCCESS)
        }
        LeaseCommand::List { db } => {
            for l in LeaseDb::open(&db.url).await?.list().await? {
                let state = if l.expired { "expired" } else { "held" };
                println!(
                    "{} {} {state} token {} by {} until {}",
                    l.rig,
                    l.slot,
                    l.token.unwrap_or_default(),
                    l.holder.unwrap_or_default(),
                    l.expires_at.unwrap_or_default()
                );
            }
            Ok(exit_code::SUCCESS)
        }
        LeaseCommand::Release {
            db,
            rig,
            slot,
            token,
        } => {
            LeaseDb::open(&db.url)
                .await?
                .release(&rig, &slot, token)
                .await?;
            Ok(exit_code::SUCCESS)
        }
        LeaseCommand::Break {
            db,
            rig,
            slot,
            reason,
            by,
        } => {
            match LeaseDb::open(&db.url)
                .await?
                .break_lease(&rig, &slot, &reason, &by)
                .await?
            {
                Some(token) => println!("broke {rig} {slot} token {token}"),
                None => println!("{rig} {slot} was not held"),
            }
            Ok(exit_code::SUCCESS)
        }
    }
}
