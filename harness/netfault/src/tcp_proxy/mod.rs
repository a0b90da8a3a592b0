//! rigor's one userspace TCP impairment proxy. Both fronts drive the same core: toxiproxy's
//! toxics ([`crate::toxiproxy`]) and rigor's impairment seam ([`ImpairmentProxy`]) translate
//! into [`Rule`]s, which each connection's pumps apply per direction. With no rule acting, bytes
//! take the direct path (spliced socket to socket in the kernel).

mod impairment;
mod proxy;
mod pump;
mod rule;
mod splice;

pub use impairment::ImpairmentProxy;
pub use proxy::{Proxy, Rules};
pub use rule::{Effect, Rule, Stream};
