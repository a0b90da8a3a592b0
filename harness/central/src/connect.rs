//! Where the central store is and how to log in: a PostgreSQL URL whose password may come from
//! an environment variable or a file instead, so the secret never sits in a rig file, a scenario
//! or a shell history.

use std::path::Path;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::CentralError;

/// The environment variable a password is read from when the URL has none.
pub const PASSWORD_ENV: &str = "RIGOR_CENTRAL_PASSWORD";

/// How long connecting may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A central store's address and login.
#[derive(Clone)]
pub struct CentralConfig {
    config: Config,
    target: String,
}

impl std::fmt::Debug for CentralConfig {
    // The derived form would print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralConfig")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl CentralConfig {
    /// Parses a `postgres://user[:password]@host[:port]/database` URL (or a `key=value`
    /// connection string).
    pub fn parse(url: &str) -> Result<Self, CentralError> {
        let mut config: Config = url.parse().map_err(CentralError::Url)?;
        // Fail over a dead link in seconds rather than the kernel's minutes: an unanswered write
        // ends the connection, and the forwarder reconnects and resends.
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(15))
            .application_name("rigor-forwarder");
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => return Err(CentralError::NoHost),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres");
        let target = format!("postgres://{host}:{port}/{db}");
        Ok(CentralConfig { config, target })
    }

    /// As [`CentralConfig::parse`], then a password the URL lacks from `password_file` if given,
    /// else from the [`PASSWORD_ENV`] environment variable if set.
    pub fn from_url_and_secret(
        url: &str,
        password_file: Option<&Path>,
    ) -> Result<Self, CentralError> {
        let mut central = Self::parse(url)?;
        if central.config.get_password().is_none() {
            if let Some(path) = password_file {
                let text =
                    std::fs::read_to_string(path).map_err(|source| CentralError::PasswordFile {
                        path: path.to_owned(),
                        source,
                    })?;
                central.config.password(text.trim_end_matches(['\n', '\r']));
            } else if let Some(password) = std::env::var_os(PASSWORD_ENV) {
                central.config.password(password.as_encoded_bytes());
            }
        }
        Ok(central)
    }

    /// The store's address without credentials (`postgres://host:port/database`): how the
    /// station store names it in its forwarding state and how messages name it.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connects; the connection is driven by a task on the current tokio runtime and ends when
    /// the client is dropped.
    pub async fn connect(&self) -> Result<Client, CentralError> {
        let connecting = self.config.connect(NoTls);
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| CentralError::Timeout {
                action: "connecting to the central store",
                after: CONNECT_TIMEOUT,
            })?
            .map_err(|source| CentralError::Connect {
                target: self.target.clone(),
                source,
            })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("central store connection ended: {e}");
            }
        });
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_host_port_and_database_without_the_password() {
        let c = CentralConfig::parse("postgres://line1:s3cret@db.example:6543/factory").unwrap();
        assert_eq!(c.target(), "postgres://db.example:6543/factory");
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = CentralConfig::parse("postgres://line1@db.example/factory").unwrap();
        assert_eq!(c.target(), "postgres://db.example:5432/factory");
    }

    #[test]
    fn password_comes_from_a_file_when_the_url_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "hunter2\n").unwrap();
        let c = CentralConfig::from_url_and_secret("postgres://u@h/db", Some(&file)).unwrap();
        assert_eq!(c.config.get_password(), Some(&b"hunter2"[..]));
        let err =
            CentralConfig::from_url_and_secret("postgres://u@h/db", Some(&dir.path().join("x")))
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the central store password from")
        );
    }
}
