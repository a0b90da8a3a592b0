//! What can go wrong opening or driving a faulty link.

use std::path::PathBuf;

/// A failure to create, impair or remove a link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetfaultError {
    /// An `ip`, `tc` or `nft` command could not be started.
    #[error("could not run `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
    /// An `ip`, `tc` or `nft` command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// A network namespace could not be entered.
    #[error("could not enter network namespace {path}")]
    EnterNamespace {
        /// Its bind mount.
        path: PathBuf,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
    /// A TUN device could not be created.
    #[error("could not create TUN device {name}")]
    Tun {
        /// The interface name asked for.
        name: String,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
    /// A socket or listener failed.
    #[error("{what}: i/o error")]
    Io {
        /// What was being done.
        what: String,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
    /// A rig's address is not `a.b.c.d/prefix` with room for two hosts.
    #[error("`{address}` is not an IPv4 address/prefix with room for the device and its peer")]
    BadAddress {
        /// What the rig said.
        address: String,
    },
    /// An interface name the kernel would refuse (empty, longer than 15 bytes, `/` or space).
    #[error("`{name}` is not a valid interface name (1 to 15 bytes, no `/` or whitespace)")]
    BadInterfaceName {
        /// The name.
        name: String,
    },
    /// A `netem:` point on a host without the kernel's netem or nft.
    #[error(
        "a `netem:` point on `{interface}` needs the kernel's netem and nft, which this host lacks \
         (a `tun:` point runs rigor's packet engine on any kernel)"
    )]
    NoKernelPath {
        /// The interface.
        interface: String,
        /// What the kernel probe found.
        #[source]
        source: Box<NetfaultError>,
    },
    /// A `netem:` point names an interface the host does not have.
    #[error("there is no interface `{interface}` on this host")]
    NoInterface {
        /// The interface.
        interface: String,
    },
    /// Another live rigor process has the interface's `netem:` point open.
    #[error("interface `{interface}` is already impaired by rigor process {pid}")]
    InterfaceBusy {
        /// The interface.
        interface: String,
        /// The owner's pid.
        pid: String,
    },
    /// An impairment this backend cannot apply.
    #[error("the {backend} backend cannot apply {what}")]
    Unsupported {
        /// What was asked.
        what: &'static str,
        /// The backend.
        backend: &'static str,
    },
}

impl NetfaultError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<NetfaultError> for rigor_hal::HalError {
    fn from(e: NetfaultError) -> Self {
        let what = e.to_string();
        rigor_hal::HalError::Io {
            what,
            source: std::io::Error::other(e),
        }
    }
}
