//! The userspace TCP impairment proxy behind the `NetImpairment` seam, for rigs without kernel
//! netem and for the virtual bench. It is rigor-netfault's one TCP proxy (the same core serves
//! toxiproxy's API), named here so a driver user finds it beside the other backends.

pub use rigor_netfault::tcp_proxy::ImpairmentProxy;
