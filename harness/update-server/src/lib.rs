//! The update server rigor runs for a scenario: it serves one signed image and its manifest over
//! HTTP/1.1, with range requests so devices resume interrupted downloads, and logs every request
//! (path, range, bytes sent, when). Steps tell it what to offer and how to misbehave: cut a
//! transfer after N bytes, serve a corrupted or truncated image, stall mid-transfer; a downgrade
//! is an offer of an older signed image.
//!
//! A device reaches it through its slot's impairment point, so the link's latency, loss and
//! partitions apply to its downloads as they do in the field.
//!
//! Paths: `GET /firmware/manifest.json` is the manifest; `GET /firmware/<image>` (the manifest's
//! `image` name) is the image.

mod log;
mod offer;
mod serve;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use log::{RequestRecord, TransferStats};
pub use offer::{Behaviour, Offer, OfferError};

/// Where the manifest is served.
pub const MANIFEST_PATH: &str = "/firmware/manifest.json";

/// The image's path for an offer whose manifest names it `image`.
pub fn image_path(image: &str) -> String {
    format!("/firmware/{image}")
}

/// What the server holds between requests.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) started: Instant,
    pub(crate) offer: Option<Offer>,
    pub(crate) log: Vec<RequestRecord>,
    /// Where the current offer's requests start in the log.
    pub(crate) offered_at: usize,
}

pub(crate) fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running update server; dropping it stops it.
pub struct UpdateServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for UpdateServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl UpdateServer {
    /// Listens on `listen` (port 0: one the OS picks) with nothing on offer. Must run inside a
    /// tokio runtime.
    pub async fn start(listen: SocketAddr) -> std::io::Result<UpdateServer> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            started: Instant::now(),
            offer: None,
            log: Vec::new(),
            offered_at: 0,
        }));
        let app = serve::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(UpdateServer { addr, shared, task })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Offers `offer` from now on; the transfer statistics start again from it.
    pub fn offer(&self, offer: Offer) {
        let mut s = lock(&self.shared);
        s.offered_at = s.log.len();
        s.offer = Some(offer);
    }

    /// Changes how the current offer is served (from the next request on).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        if let Some(offer) = lock(&self.shared).offer.as_mut() {
            offer.behaviour = behaviour;
        }
    }

    /// Offers nothing: every path answers 404.
    pub fn withdraw(&self) {
        let mut s = lock(&self.shared);
        s.offered_at = s.log.len();
        s.offer = None;
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).log.clone()
    }

    /// What the image transfers since the current offer was made add up to.
    pub fn stats(&self) -> TransferStats {
        let s = lock(&self.shared);
        TransferStats::of(&s.log[s.offered_at..])
    }
}

impl Drop for UpdateServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
