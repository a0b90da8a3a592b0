//! Store-and-forward: passes that read what the central store lacks from the station store,
//! send it in batches and move the station's durable high-water mark; a one-off [`push`] and a
//! background [`Forwarder`] that retries with backoff and never touches the test's threads.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rigor_store::{RunId, Store};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::connect::CentralConfig;
use crate::error::CentralError;
use crate::migrate::check_version;
use crate::push::{Sent, prepare, send};

/// How forwarding batches, waits and retries.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// Ended runs per batch (one central transaction).
    pub batch_runs: usize,
    /// The most recent open runs sent, as far as they have got, once the ended ones are through.
    pub open_runs: usize,
    /// How long one batch may take before the connection is given up and the batch resent.
    pub batch_timeout: Duration,
    /// The first wait after a failure; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest wait between attempts while the central store is unreachable.
    pub max_backoff: Duration,
    /// How often the background forwarder looks for new records when it has caught up.
    pub poll: Duration,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            batch_runs: 500,
            open_runs: 16,
            batch_timeout: Duration::from_secs(60),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            poll: Duration::from_millis(250),
        }
    }
}

/// What forwarding did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardReport {
    /// Runs sent (an open run sent twice counts twice).
    pub runs: usize,
    /// Rows sent.
    pub rows: usize,
    /// Blobs sent.
    pub blobs: usize,
    /// Ended runs newly marked as held by the central store.
    pub marked: usize,
    /// Failed attempts (each retried).
    pub failures: usize,
}

impl ForwardReport {
    fn add(&mut self, sent: Sent, marked: usize) {
        self.runs += sent.runs;
        self.rows += sent.rows;
        self.blobs += sent.blobs;
        self.marked += marked;
    }
}

/// One station store forwarding to one central store, over one connection at a time.
struct Session<'a> {
    store: &'a mut Store,
    central: &'a CentralConfig,
    options: &'a ForwardOptions,
    station: Uuid,
    client: Option<Client>,
}

/// The result of one pass.
struct Pass {
    sent: Sent,
    marked: usize,
    /// Ended runs remain beyond this batch.
    more: bool,
}

impl<'a> Session<'a> {
    fn new(
        store: &'a mut Store,
        central: &'a CentralConfig,
        options: &'a ForwardOptions,
    ) -> Result<Self, CentralError> {
        let station = store.station_id()?;
        Ok(Session {
            store,
            central,
            options,
            station,
            client: None,
        })
    }

    /// Sends one batch: ended runs first; once they are through, the open ones.
    async fn pass(&mut self) -> Result<Pass, CentralError> {
        let timeout = self.options.batch_timeout;
        let result = tokio::time::timeout(timeout, self.pass_inner())
            .await
            .unwrap_or(Err(CentralError::Timeout {
                action: "sending a batch to the central store",
                after: timeout,
            }));
        if result.is_err() {
            // Whatever state the connection is in, the next attempt starts afresh.
            self.client = None;
        }
        result
    }

    async fn pass_inner(&mut self) -> Result<Pass, CentralError> {
        let target = self.central.target();
        // Connected even with nothing to send, so a wrong login or an unreachable store shows
        // at once (and in `rigor store status`), not with the first record.
        if self.client.is_none() {
            let client = self.central.connect().await?;
            check_version(&client, target).await?;
            prepare(&client).await?;
            self.client = Some(client);
        }
        let batch = self.options.batch_runs.max(1);
        let mut runs = self.store.runs_to_forward(target, batch, 0)?;
        let more = runs.len() >= batch;
        if !more {
            runs = self
                .store
                .runs_to_forward(target, batch, self.options.open_runs)?;
        }
        if runs.is_empty() {
            return Ok(Pass {
                sent: Sent::default(),
                marked: 0,
                more: false,
            });
        }
        let export = self.store.export_runs(&runs)?;
        let Some(client) = self.client.as_mut() else {
            return Err(CentralError::NoHost);
        };
        let sent = send(client, self.station, self.store, &export).await?;
        let ended: Vec<RunId> = export
            .runs
            .iter()
            .filter(|r| r.end.is_some())
            .map(|r| r.id)
            .collect();
        if !ended.is_empty() {
            self.store.mark_forwarded(target, &ended)?;
            self.store
                .record_forward_attempt(target, ended.len(), None)?;
        }
        Ok(Pass {
            sent,
            marked: ended.len(),
            more,
        })
    }

    /// Logs a failed pass in the station store (for `rigor store status`); a store that cannot
    /// take the log is itself reported by the next pass.
    fn record_failure(&mut self, err: &CentralError) {
        let text = chain(err);
        tracing::warn!("forwarding to {} failed: {text}", self.central.target());
        if let Err(e) = self
            .store
            .record_forward_attempt(self.central.target(), 0, Some(&text))
        {
            tracing::warn!("cannot log the forwarding failure: {e}");
        }
    }
}

/// True for failures that waiting will not cure: a wrong login, missing privileges, a schema of
/// another version, a bad URL or a broken station store.
pub fn is_permanent(err: &CentralError) -> bool {
    match err {
        CentralError::Url(_)
        | CentralError::NoHost
        | CentralError::PasswordFile { .. }
        | CentralError::NotMigrated { .. }
        | CentralError::SchemaMismatch { .. }
        | CentralError::Store(_)
        | CentralError::Undecodable { .. } => true,
        CentralError::Runtime(_) => false,
        CentralError::Timeout { .. } | CentralError::Migration { .. } => false,
        CentralError::Connect { .. } | CentralError::Postgres { .. } => matches!(
            err.sql_state(),
            Some(code) if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                || *code == SqlState::INSUFFICIENT_PRIVILEGE
                || *code == SqlState::INVALID_CATALOG_NAME
        ),
    }
}

/// The error and its sources, `: `-separated, as the station store logs it.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Forwards everything `store` holds that `central` lacks, then returns. Transient failures (the
/// link drops, the server restarts) are retried with backoff until `give_up_after` has passed
/// since the last progress; permanent ones (see [`is_permanent`]) return at once.
pub async fn push(
    store: &mut Store,
    central: &CentralConfig,
    options: &ForwardOptions,
    give_up_after: Duration,
) -> Result<ForwardReport, CentralError> {
    let mut session = Session::new(store, central, options)?;
    let mut report = ForwardReport::default();
    let mut backoff = options.min_backoff;
    let mut last_progress = Instant::now();
    loop {
        match session.pass().await {
            Ok(pass) => {
                report.add(pass.sent, pass.marked);
                backoff = options.min_backoff;
                last_progress = Instant::now();
                if !pass.more {
                    return Ok(report);
                }
            }
            Err(err) => {
                session.record_failure(&err);
                report.failures += 1;
                if is_permanent(&err) || last_progress.elapsed() >= give_up_after {
                    return Err(err);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
}

/// A forwarder on its own thread and runtime, alongside a station: it opens its own connection
/// to the station store, so recording never waits for it, and keeps forwarding (backing off
/// while the central store is unreachable) until [`Forwarder::stop`].
#[derive(Debug)]
pub struct Forwarder {
    stop: tokio::sync::watch::Sender<Option<Instant>>,
    thread: std::thread::JoinHandle<ForwardReport>,
}

impl Forwarder {
    /// Starts forwarding the store at `store_path` to `central`.
    pub fn spawn(
        store_path: PathBuf,
        central: CentralConfig,
        options: ForwardOptions,
    ) -> Result<Self, std::io::Error> {
        let (stop, stopped) = tokio::sync::watch::channel(None);
        let thread = std::thread::Builder::new()
            .name("rigor-forwarder".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::warn!("the forwarder cannot start its runtime: {e}");
                        return ForwardReport::default();
                    }
                };
                runtime.block_on(forward_until_stopped(store_path, central, options, stopped))
            })?;
        Ok(Forwarder { stop, thread })
    }

    /// Asks the forwarder to send what is left, waits up to `drain` for it to catch up, and
    /// stops it; whatever is left goes on the next start (or `rigor store push`).
    pub fn stop(self, drain: Duration) -> ForwardReport {
        let _ = self.stop.send(Some(Instant::now() + drain));
        self.thread.join().unwrap_or_default()
    }
}

async fn forward_until_stopped(
    store_path: PathBuf,
    central: CentralConfig,
    options: ForwardOptions,
    mut stopped: tokio::sync::watch::Receiver<Option<Instant>>,
) -> ForwardReport {
    let mut report = ForwardReport::default();
    let mut backoff = options.min_backoff;
    let mut store = None;
    let mut client = None;
    loop {
        let deadline = *stopped.borrow();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return report;
        }
        let outcome = match store.as_mut() {
            Some(store) => forward_some(store, &mut client, &central, &options, &mut report).await,
            None => match Store::open(&store_path) {
                Ok(opened) => {
                    store = Some(opened);
                    continue;
                }
                Err(e) => Err(CentralError::Store(e)),
            },
        };
        let wait = match outcome {
            Ok(true) => {
                backoff = options.min_backoff;
                continue;
            }
            Ok(false) if deadline.is_some() => return report,
            Ok(false) => {
                backoff = options.min_backoff;
                options.poll
            }
            Err(err) => {
                report.failures += 1;
                tracing::warn!("forwarding to {} failed: {}", central.target(), chain(&err));
                let wait = backoff;
                backoff = (backoff * 2).min(options.max_backoff);
                wait
            }
        };
        let sleep = match deadline {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        };
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One pass; `Ok(true)` if more is waiting. Failures are logged in the store.
async fn forward_some(
    store: &mut Store,
    client: &mut Option<Client>,
    central: &CentralConfig,
    options: &ForwardOptions,
    report: &mut ForwardReport,
) -> Result<bool, CentralError> {
    // A session per pass keeps no borrow of the store across the waits; the connection moves
    // in and out of it, so it lasts between passes.
    let mut session = Session::new(store, central, options)?;
    session.client = client.take();
    let result = session.pass().await;
    if let Err(err) = &result {
        session.record_failure(err);
    }
    *client = session.client.take();
    let pass = result?;
    report.add(pass.sent, pass.marked);
    Ok(pass.more)
}
