//! rigor's central store: every station's records in one PostgreSQL database, append-only, fed
//! store-and-forward.
//!
//! Each station records into its own SQLite store first (`rigor-store`), so testing never waits
//! for the network. Forwarding then sends what the central store lacks, in batches (binary `COPY`
//! into staging tables, then `INSERT … ON CONFLICT DO NOTHING` keyed by run UUID and row key),
//! and moves a durable high-water mark in the station store. Any failure (the link drops, the
//! process is killed, PostgreSQL restarts) is followed by a resend that inserts only what is
//! missing: nothing is lost and nothing doubled.
//!
//! - [`migrate()`] creates or upgrades the central schema; its tables, triggers, roles and views
//!   are described in [`schema`].
//! - [`push()`] forwards everything once (`rigor store push`); [`Forwarder`] runs alongside a
//!   station (`rigor run --central`, `rigor demo --central`) on its own thread.
//! - [`CentralSource`] answers the analysts' views (`rigor results … --store postgres://…`).
//! - [`CentralConfig`] reads the URL, with its password from a file or
//!   [`connect::PASSWORD_ENV`], never from a scenario or rig file.

pub mod connect;
mod copy;
mod error;
mod forward;
pub mod history;
mod migrate;
pub mod push;
pub mod read;
pub mod schema;
pub mod source;
pub mod status;

pub use connect::CentralConfig;
pub use error::CentralError;
pub use forward::{ForwardOptions, ForwardReport, Forwarder, chain, is_permanent, push};
pub use migrate::{check_version, migrate};
pub use schema::CENTRAL_SCHEMA_VERSION;
pub use source::CentralSource;
