//! `rigor store push` and `rigor store status`: a station store's forwarding to a central store
//! (and `rigor store replay`, in its own file). The work is rigor-central's and rigor-store's.

use std::path::PathBuf;
use std::time::Duration;

use rigor_central::{CentralConfig, ForwardOptions};
use rigor_store::Store;

use crate::exit_code;

/// What `rigor store` was asked.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Forward everything the central store lacks, once, then exit (resumable: a killed push
    /// loses nothing and a second one sends only what is missing).
    Push {
        /// The station store.
        #[arg(long, default_value = "rigor.db")]
        store: PathBuf,
        /// The central store, `postgres://station-login@host:port/database`.
        #[arg(long, env = "RIGOR_CENTRAL_URL", value_name = "URL")]
        to: String,
        /// Read the password from this file (else from RIGOR_CENTRAL_PASSWORD or the URL).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Keep retrying while the central store is unreachable for up to this long.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        give_up_after: Duration,
        /// Ended runs per batch.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// How far forwarding has got: runs not yet forwarded, the oldest, the last error.
    Status {
        /// The station store.
        #[arg(long, default_value = "rigor.db")]
        store: PathBuf,
        /// Only this central store (default: every one the store has forwarded to).
        #[arg(long, value_name = "URL")]
        to: Option<String>,
    },
    /// Put what an earlier run could not record (the spill file beside the store) into the
    /// store now, and say what went in and what the store refused.
    Replay(crate::store_replay::ReplayArgs),
}

/// Runs the subcommand; returns the exit code.
pub async fn run(command: StoreCommand) -> i32 {
    match command {
        StoreCommand::Replay(args) => crate::store_replay::run(&args),
        StoreCommand::Push {
            store,
            to,
            password_file,
            give_up_after,
            batch,
        } => {
            let central = match CentralConfig::from_url_and_secret(&to, password_file.as_deref()) {
                Ok(c) => c,
                Err(e) => return crate::central::report(&e),
            };
            let mut store = match Store::open(&store) {
                Ok(s) => s,
                Err(e) => return store_error(&e),
            };
            let options = ForwardOptions {
                batch_runs: batch,
                ..ForwardOptions::default()
            };
            match rigor_central::push(&mut store, &central, &options, give_up_after).await {
                Ok(report) => {
                    println!(
                        "pushed to {}: {} runs complete there now, {} rows and {} blobs sent",
                        central.target(),
                        report.marked,
                        report.rows,
                        report.blobs
                    );
                    exit_code::SUCCESS
                }
                Err(e) => crate::central::report(&e),
            }
        }
        StoreCommand::Status { store, to } => {
            let store = match Store::open(&store) {
                Ok(s) => s,
                Err(e) => return store_error(&e),
            };
            let targets = match to {
                Some(url) => match CentralConfig::parse(&url) {
                    Ok(c) => Ok(vec![c.target().to_owned()]),
                    Err(e) => return crate::central::report(&e),
                },
                None => store.forward_targets(),
            };
            let statuses = targets.and_then(|targets| {
                targets
                    .iter()
                    .map(|t| store.forward_status(t))
                    .collect::<Result<Vec<_>, _>>()
            });
            match statuses {
                Ok(statuses) if statuses.is_empty() => {
                    println!("never forwarded: `rigor store push --to postgres://…` sends it");
                    exit_code::SUCCESS
                }
                Ok(statuses) => {
                    print!(
                        "{}",
                        rigor_central::status::render(&statuses, rigor_central::status::now())
                    );
                    exit_code::SUCCESS
                }
                Err(e) => store_error(&e),
            }
        }
    }
}

fn store_error(e: &rigor_store::StoreError) -> i32 {
    eprintln!("error: {}", exit_code::chain(e));
    exit_code::STORE
}
