//! Packet-level network faults for rigor: a device's link as two network namespaces joined
//! through TUN devices, with an engine in between that delays, drops, duplicates, reorders,
//! corrupts, rate-limits and partitions per direction, and fails the link's DNS.
//!
//! Wiring: [`open_point`] opens a rig's `tun:` point behind the seam's `NetImpairment`, and
//! [`open_netem_point`] a `netem:` point (the kernel's netem on a host interface, [`InterfaceLink`]);
//! [`PacketImpairment`] is this crate's richer impairment, which the seam's converts into.
//! [`KernelSupport::probe`] finds whether the kernel has netem and nft, and [`Link::open`] opens
//! a link on the backend it chooses and says which ([`Backend`]). [`host::rig_problems`] says,
//! without changing anything, which of a rig's points this host cannot open (`rigor check`). [`toxiproxy::serve`] answers
//! toxiproxy's HTTP API over rigor's TCP proxy ([`tcp_proxy`]), which also serves the seam's
//! `NetImpairment` as [`tcp_proxy::ImpairmentProxy`].
//!
//! Every name rigor creates starts with `rg-` and carries its owner's pid, so a killed rigor's
//! leftovers are removed at the next start ([`netns::sweep`]).

pub mod dns;
mod engine;
pub mod error;
mod frame;
pub mod host;
pub mod icmp;
pub mod impairment;
pub mod interface_link;
pub mod kernel;
pub mod kernel_link;
pub mod link;
pub mod netns;
pub mod point;
mod realtime;
mod release;
pub mod shaper;
pub mod tcp_proxy;
pub mod toxiproxy;

pub use error::NetfaultError;
pub use impairment::{DirectionImpairment, DnsFailure, Loss, PacketImpairment};
pub use interface_link::InterfaceLink;
pub use kernel::{Backend, KernelSupport};
pub use kernel_link::KernelLink;
pub use link::{LinkConfig, LinkStats, PacketLink};
pub use point::{Link, open_netem_point, open_point, open_tun, point_backend};
