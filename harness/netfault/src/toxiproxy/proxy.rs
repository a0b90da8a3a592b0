//! A proxy as toxiproxy's API sees it: rigor's TCP proxy ([`crate::tcp_proxy::Proxy`]) with a
//! list of named toxics, each translated into the rule the proxy's connections apply.

use std::net::SocketAddr;
use std::sync::Mutex;

use super::toxic::Toxic;
use crate::tcp_proxy::{Proxy, Rule, Rules};

/// A listening proxy; dropping it (or [`ToxicProxy::disable`]) closes its connections.
pub struct ToxicProxy {
    proxy: Proxy,
    /// The toxics as the API shows them; the proxy's rules follow every change.
    toxics: Mutex<Vec<Toxic>>,
}

impl ToxicProxy {
    /// Listens on `listen` and forwards every connection to `upstream` (`host:port`).
    pub async fn start(listen: &str, upstream: &str) -> std::io::Result<Self> {
        Ok(Self {
            proxy: Proxy::start(listen, upstream, Rules::default()).await?,
            toxics: Mutex::default(),
        })
    }

    /// Where it listens (the port chosen, if `:0` was asked).
    pub fn listen(&self) -> SocketAddr {
        self.proxy.listen()
    }

    /// Where it forwards to.
    pub fn upstream(&self) -> &str {
        self.proxy.upstream()
    }

    /// Whether it is listening.
    pub fn enabled(&self) -> bool {
        self.proxy.enabled()
    }

    /// Stops listening and closes every connection; returns once the listener is closed, so a
    /// client told "disabled" is refused, not accepted and then reset.
    pub async fn disable(&mut self) {
        self.proxy.disable().await;
    }

    /// Listens again on the same address.
    pub async fn enable(&mut self) -> std::io::Result<()> {
        self.proxy.enable().await
    }

    /// Moves the proxy to another address or upstream (closing its connections).
    pub async fn rebind(&mut self, listen: &str, upstream: &str) -> std::io::Result<()> {
        self.proxy.rebind(listen, upstream).await
    }

    /// Its toxics, in the order they act.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.lock().clone()
    }

    /// Changes its toxics; connections open now see the change.
    pub fn set_toxics(&self, f: impl FnOnce(&mut Vec<Toxic>)) {
        let mut toxics = self.lock();
        f(&mut toxics);
        // Under the lock, so two changes reach the rules in the order they were made.
        self.proxy
            .rules()
            .set(toxics.iter().map(Rule::from).collect());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Toxic>> {
        // A panic under the lock leaves a list that is still whole: keep using it.
        self.toxics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
