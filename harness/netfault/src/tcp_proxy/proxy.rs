//! The listener: one accept loop for every front, each connection a pump per direction under
//! the rules of the link it belongs to.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::pump::{Ending, Pump};
use super::rule::{Effect, Rule, Stream};

/// The rules acting on a link, shared by every listener on it: a sibling listener is impaired
/// as its first is, as a netem box impairs every destination of a device alike.
#[derive(Clone)]
pub struct Rules(Arc<watch::Sender<Vec<Rule>>>);

impl Default for Rules {
    fn default() -> Self {
        Self(Arc::new(watch::channel(Vec::new()).0))
    }
}

impl Rules {
    /// Replaces the rules; open connections see the change at their next chunk.
    pub fn set(&self, rules: Vec<Rule>) {
        self.0.send_replace(rules);
    }

    /// The rules now, in the order they act.
    pub fn get(&self) -> Vec<Rule> {
        self.0.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Vec<Rule>> {
        self.0.subscribe()
    }
}

/// A listening TCP proxy; dropping it (or [`Proxy::disable`]) closes its connections.
pub struct Proxy {
    listen: SocketAddr,
    upstream: String,
    rules: Rules,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `listen` and forwards every connection to `upstream` (`host:port`) under
    /// `rules`.
    pub async fn start(listen: &str, upstream: &str, rules: Rules) -> std::io::Result<Self> {
        let mut proxy = Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: upstream.to_owned(),
            rules,
            task: None,
        };
        proxy.bind(listen).await?;
        Ok(proxy)
    }

    async fn bind(&mut self, listen: &str) -> std::io::Result<()> {
        let listener = TcpListener::bind(listen).await?;
        self.listen = listener.local_addr()?;
        self.task = Some(tokio::spawn(accept(
            listener,
            self.upstream.clone(),
            self.rules.clone(),
        )));
        Ok(())
    }

    /// Where it listens (the port chosen, if `:0` was asked).
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Where it forwards to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The rules its connections pass through.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Whether it is listening.
    pub fn enabled(&self) -> bool {
        self.task.is_some()
    }

    /// Stops listening and closes every connection; returns once the listener is closed, so a
    /// client told "disabled" is refused, not accepted and then reset.
    pub async fn disable(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // An aborted task's handle resolves once the task (and its listener) is dropped.
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn enable(&mut self) -> std::io::Result<()> {
        if self.task.is_none() {
            self.bind(&self.listen.to_string()).await?;
        }
        Ok(())
    }

    /// Moves the proxy to another address or upstream (closing its connections).
    pub async fn rebind(&mut self, listen: &str, upstream: &str) -> std::io::Result<()> {
        let was_enabled = self.enabled();
        self.disable().await;
        self.upstream = upstream.to_owned();
        if was_enabled {
            self.bind(listen).await?;
        } else {
            self.listen = listen.parse().unwrap_or(self.listen);
        }
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, upstream: String, rules: Rules) {
    // Aborting this task drops the set, which aborts every connection in it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { return };
                connections.spawn(connection(client, upstream.clone(), rules.subscribe()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Whether a partition cuts the link.
pub(super) fn partitioned(rules: &[Rule], stream: Option<Stream>) -> bool {
    rules
        .iter()
        .any(|r| r.effect == Effect::Partition && stream.is_none_or(|s| s == r.stream))
}

async fn connection(client: TcpStream, upstream: String, rules: watch::Receiver<Vec<Rule>>) {
    // A partition also stalls connection set-up, as lost SYNs would.
    let mut gate = rules.clone();
    if gate.wait_for(|r| !partitioned(r, None)).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let ending = Arc::new(watch::channel(Ending::Open).0);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = Pump::new(Stream::Upstream, rules.clone(), ending.clone());
    let down = Pump::new(Stream::Downstream, rules, ending);
    tokio::join!(up.run(cr, sw), down.run(sr, cw));
}
