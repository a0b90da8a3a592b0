//! The central store's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Why talking to the central store failed.
///
/// Messages are lowercase fragments; the CLI prints the source chain after them, which for
/// PostgreSQL's own refusals carries the server's message (`password authentication failed for
/// user "line1"`).
#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    /// The URL is not a PostgreSQL connection string.
    #[error("invalid central store URL")]
    Url(#[source] tokio_postgres::Error),
    /// The URL names no host.
    #[error("the central store URL names no host")]
    NoHost,
    /// The password file could not be read.
    #[error("cannot read the central store password from {path}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached or refused the login.
    #[error("cannot connect to the central store {target}")]
    Connect {
        /// Host, port and database.
        target: String,
        /// What the network or PostgreSQL said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Something took longer than its deadline (the link is partitioned, the server hangs).
    #[error("{action} took longer than {after:?}")]
    Timeout {
        /// What was being done.
        action: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The database has no rigor schema.
    #[error(
        "the central store {target} has no rigor schema; run `rigor central migrate --url …` as \
         its owner"
    )]
    NotMigrated {
        /// Host, port and database.
        target: String,
    },
    /// The database has another rigor schema version than this rigor writes.
    #[error(
        "the central store {target} is at schema version {found}, this rigor writes version \
         {expected}; {advice}"
    )]
    SchemaMismatch {
        /// Host, port and database.
        target: String,
        /// The version in the database.
        found: i32,
        /// The version this code writes.
        expected: i32,
        /// What to do about it.
        advice: &'static str,
    },
    /// A migration failed; its transaction was rolled back.
    #[error("central schema migration to version {version} failed")]
    Migration {
        /// The version being migrated to.
        version: i32,
        /// What PostgreSQL said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement failed.
    #[error("cannot {action} in the central store")]
    Postgres {
        /// What was being done.
        action: &'static str,
        /// What PostgreSQL said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The station store failed.
    #[error(transparent)]
    Store(#[from] rigor_store::StoreError),
    /// The runtime that drives a synchronous reader's queries could not start.
    #[error("cannot start the runtime for reading the central store")]
    Runtime(#[source] std::io::Error),
    /// A recorded value is not one rigor writes (a row not written by rigor).
    #[error("the central store holds a {what} rigor does not know: {text:?}")]
    Undecodable {
        /// What the value is.
        what: &'static str,
        /// The value.
        text: String,
    },
}

impl CentralError {
    /// Wraps a PostgreSQL error with what was being done.
    pub(crate) fn pg(action: &'static str) -> impl Fn(tokio_postgres::Error) -> Self {
        move |source| CentralError::Postgres { action, source }
    }

    /// The SQLSTATE of PostgreSQL's refusal, if the server refused.
    pub fn sql_state(&self) -> Option<&tokio_postgres::error::SqlState> {
        let source = match self {
            CentralError::Connect { source, .. }
            | CentralError::Migration { source, .. }
            | CentralError::Postgres { source, .. }
            | CentralError::Url(source) => source,
            _ => return None,
        };
        source.code()
    }
}
