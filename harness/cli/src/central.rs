//! `rigor central migrate`, and the `--central` options with which `rigor run` and `rigor demo`
//! forward their records as they go. The work is rigor-central's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rigor_central::{CentralConfig, CentralError, ForwardOptions, Forwarder};

use crate::exit_code;

/// What `rigor central` was asked.
#[derive(Debug, clap::Subcommand)]
pub enum CentralCommand {
    /// Create or upgrade the central PostgreSQL schema (tables, append-only triggers, the
    /// `rigor_station` and `rigor_analyst` roles, views). Run as the database's owner.
    Migrate {
        /// The central store, `postgres://owner@host:port/database`.
        #[arg(long, env = "RIGOR_CENTRAL_URL", value_name = "URL")]
        url: String,
        /// Read the password from this file (else from RIGOR_CENTRAL_PASSWORD or the URL).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// A unit's history across stations, read from the central store by serial: attempts
    /// numbered across stations, its footprint, runs that overlapped in time.
    History {
        /// The central store, `postgres://analyst-login@host:port/database`.
        #[arg(long, env = "RIGOR_CENTRAL_URL", value_name = "URL")]
        url: String,
        /// Read the password from this file (else from RIGOR_CENTRAL_PASSWORD or the URL).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The unit's serial.
        #[arg(long)]
        unit: String,
    },
}

/// Forwarding alongside a run, configured once per station: the URL from the command line or
/// `RIGOR_CENTRAL_URL`, its password from a file or `RIGOR_CENTRAL_PASSWORD`.
#[derive(Debug, Clone, clap::Args)]
pub struct CentralArgs {
    /// Forward every record to this central store while running,
    /// `postgres://station-login@host:port/database` (the password from
    /// --central-password-file or RIGOR_CENTRAL_PASSWORD). Testing never waits for it.
    #[arg(long = "central", env = "RIGOR_CENTRAL_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The central store's password, in a file.
    #[arg(long = "central-password-file", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Runs the subcommand; returns the exit code.
pub async fn run(command: CentralCommand) -> i32 {
    match command {
        CentralCommand::Migrate { url, password_file } => {
            let migrated = async {
                let central = CentralConfig::from_url_and_secret(&url, password_file.as_deref())?;
                let mut client = central.connect().await?;
                let version = rigor_central::migrate(&mut client, central.target()).await?;
                Ok::<_, CentralError>((central, version))
            };
            match migrated.await {
                Ok((central, version)) => {
                    println!(
                        "{} is at central schema version {version}",
                        central.target()
                    );
                    exit_code::SUCCESS
                }
                Err(e) => report(&e),
            }
        }
        CentralCommand::History {
            url,
            password_file,
            unit,
        } => {
            let read = async {
                let central = CentralConfig::from_url_and_secret(&url, password_file.as_deref())?;
                let client = central.connect().await?;
                rigor_central::history::unit_history(&client, &unit).await
            };
            match read.await {
                Ok(history) => {
                    print!("{}", rigor_central::history::render_history(&history));
                    exit_code::SUCCESS
                }
                Err(e) => report(&e),
            }
        }
    }
}

/// Prints a central store error with its causes; returns its exit code.
pub fn report(error: &CentralError) -> i32 {
    eprintln!("error: {}", exit_code::chain(error));
    match error {
        CentralError::Store(_) => exit_code::STORE,
        CentralError::Url(_) | CentralError::NoHost | CentralError::PasswordFile { .. } => {
            exit_code::USAGE
        }
        _ => exit_code::CENTRAL,
    }
}

/// A forwarder started with a run, if `--central` was given.
pub struct Forwarding {
    forwarder: Forwarder,
    central: CentralConfig,
    store: PathBuf,
}

impl CentralArgs {
    /// Starts forwarding `store` in the background; `Ok(None)` without `--central`.
    pub fn start(&self, store: &Path) -> Result<Option<Forwarding>, i32> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let central = CentralConfig::from_url_and_secret(url, self.password_file.as_deref())
            .map_err(|e| report(&e))?;
        let forwarder =
            Forwarder::spawn(store.to_owned(), central.clone(), ForwardOptions::default())
                .map_err(|e| {
                    eprintln!("error: cannot start the forwarder: {e}");
                    exit_code::INFRASTRUCTURE
                })?;
        Ok(Some(Forwarding {
            forwarder,
            central,
            store: store.to_owned(),
        }))
    }
}

impl Forwarding {
    /// Gives the forwarder up to 10 s to catch up, stops it and says how far it got; whatever is
    /// left goes with the next run or `rigor store push`. Never changes the run's exit code.
    pub async fn finish(self) {
        let Forwarding {
            forwarder,
            central,
            store,
        } = self;
        let report = tokio::task::spawn_blocking(move || forwarder.stop(Duration::from_secs(10)))
            .await
            .unwrap_or_default();
        let status =
            rigor_store::Store::open(&store).and_then(|s| s.forward_status(central.target()));
        match status {
            Ok(s) if s.pending == 0 => println!(
                "forwarded to {}: {} runs newly complete there, nothing left",
                central.target(),
                report.marked
            ),
            Ok(s) => println!(
                "forwarded to {}: {} runs; {} not yet (`rigor store status`); they go with the next \
                 run or `rigor store push`{}",
                central.target(),
                report.marked,
                s.pending,
                s.last_error
                    .map(|(_, e)| format!("\n  last error: {e}"))
                    .unwrap_or_default()
            ),
            Err(e) => eprintln!("error: {}", exit_code::chain(&e)),
        }
    }
}
