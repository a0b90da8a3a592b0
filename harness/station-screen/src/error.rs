//! Why the station screen could not start or do what was asked.

use std::path::PathBuf;

/// A station screen error.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// The station library refused (files, binding, the rig).
    #[error(transparent)]
    Station(#[from] rigor_station::StationError),
    /// The store failed.
    #[error("the store failed")]
    Store(#[source] rigor_store::StoreError),
    /// No route was given and the rig has none, or several.
    #[error("no route for rig `{rig}`: {why}")]
    NoRoute {
        /// The rig.
        rig: String,
        /// Why none was chosen.
        why: String,
    },
    /// The route is for another rig.
    #[error("route `{route}` is for rig `{route_rig}`, not `{rig}`")]
    WrongRig {
        /// The route.
        route: String,
        /// Its rig.
        route_rig: String,
        /// The rig asked for.
        rig: String,
    },
    /// The address to listen on could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Listening beyond this machine needs a token.
    #[error(
        "listening on {addr}, beyond this machine, needs a token (--token or RIGOR_STATION_TOKEN)"
    )]
    TokenNeeded {
        /// The address.
        addr: String,
    },
    /// A folder for the simulated units' firmware could not be made.
    #[error("cannot prepare {}", path.display())]
    Builds {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the screen's server failed")]
    Serve(#[source] std::io::Error),
    /// A task of the station panicked (a bug in rigor).
    #[error("a task of the station crashed")]
    Crashed,
}

impl ScreenError {
    /// Which kind of trouble it is, for exit codes.
    pub fn kind(&self) -> rigor_station::ErrorKind {
        use rigor_station::ErrorKind;
        match self {
            ScreenError::Station(e) => e.kind(),
            ScreenError::Store(_) => ErrorKind::Store,
            ScreenError::NoRoute { .. } | ScreenError::WrongRig { .. } => ErrorKind::InvalidInput,
            ScreenError::TokenNeeded { .. } => ErrorKind::Usage,
            ScreenError::Listen { .. }
            | ScreenError::Builds { .. }
            | ScreenError::Serve(_)
            | ScreenError::Crashed => ErrorKind::Infrastructure,
        }
    }
}
