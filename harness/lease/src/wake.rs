//! Waking waiters when a slot may have become free, instead of each waiter asking the database
//! ten times a second: the schema's triggers `NOTIFY rigor_lease` with the rig's name whenever a
//! slot is freed (released, broken, or given up by a holder) or a waiter leaves its queue, and a
//! waiter `LISTEN`s on its own connection. Expiry sends nothing (no statement runs when a lease
//! runs out), so a waiter also wakes when the earliest lease it waits on expires, and at least
//! every [`AT_MOST`] to refresh its place in the queue.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, Config};

use crate::{LeaseError, db};

/// The channel the triggers notify on.
pub(crate) const CHANNEL: &str = "rigor_lease";

/// The longest a waiter sleeps between two looks (well inside its place's time to live).
pub(crate) const AT_MOST: Duration = Duration::from_secs(1);

/// A connection that hears which rigs changed.
pub(crate) struct Listener {
    changed: mpsc::UnboundedReceiver<String>,
}

/// Opens a connection of its own that listens on [`CHANNEL`]; its client runs the waiter's
/// statements too.
pub(crate) async fn listen(config: &Config) -> Result<(Client, Listener), LeaseError> {
    let (client, mut connection) = crate::connect(config).await?;
    let (tx, changed) = mpsc::unbounded_channel();
    // tokio-postgres hands notifications only to whoever drives the connection's messages.
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let _ = tx.send(n.payload().to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!("lease database connection ended: {e}");
                    break;
                }
                None => break,
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(db("listen for freed slots"))?;
    Ok((client, Listener { changed }))
}

impl Listener {
    /// Waits until `rig` changes or `until` comes, whichever is first. A notification that came
    /// while the waiter was busy is already queued, so none is missed between a look and a wait.
    pub(crate) async fn changed(&mut self, rig: &str, until: Instant) {
        loop {
            match tokio::time::timeout_at(until, self.changed.recv()).await {
                Ok(Some(changed)) if changed == rig => return,
                Ok(Some(_)) => {}
                // The connection is gone: the next statement reports it; until then, wait.
                Ok(None) => return tokio::time::sleep_until(until).await,
                Err(_) => return,
            }
        }
    }
}

/// How long until the earliest lease among `slots` of `rig` expires, if any is held.
pub(crate) async fn next_expiry(
    client: &Client,
    rig: &str,
    slots: &[String],
) -> Result<Option<Duration>, LeaseError> {
    let row = client
        .query_one(
            "SELECT extract(epoch FROM min(expires_at) - now())::float8 FROM rigor_lease_slots \
             WHERE rig = $1 AND slot = ANY($2) AND token IS NOT NULL",
            &[&rig, &slots],
        )
        .await
        .map_err(db("read when the leases expire"))?;
    let seconds: Option<f64> = row.get(0);
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
}
