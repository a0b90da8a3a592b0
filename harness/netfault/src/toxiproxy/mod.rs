//! A toxiproxy-compatible HTTP API over rigor's TCP proxy, so existing toxiproxy clients and
//! scripts drive rigor's links: proxies created, listed, enabled, deleted; toxics latency,
//! bandwidth, slow_close, timeout, reset_peer and limit_data added and removed.

mod api;
mod proxy;
mod toxic;

pub use crate::tcp_proxy::Stream;
pub use api::{ApiError, Server, router, serve};
pub use proxy::ToxicProxy;
pub use toxic::{Toxic, ToxicKind, ToxicRequest};
