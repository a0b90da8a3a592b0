//! rigor's operator screen for a factory station: `rigor station` serves it.
//!
//! An operator scans their badge, then a unit's label into a slot's tile; the label's pattern
//! (from the station's [route](rigor_model::route::Route)) tells the generation; the route's
//! scenarios run through the station library exactly as `rigor run` runs them (the same
//! records), their events pushed to the page as they are recorded; the tile ends in a large
//! PASS or FAIL with the reason in plain words, and takes the next scan. Prompts, aborts, the
//! retest limit, fixture wear and a technician's actions are handled here and recorded in the
//! store's station log.
//!
//! The flow is one way: [`open`] loads and checks everything and binds the address →
//! [`Screen::serve`] answers the page until Ctrl-C or SIGTERM, when every slot is aborted
//! (torn down, recorded as aborted) before it returns.

mod app;
mod cycle;
mod error;
mod events;
mod label;
mod operator;
mod reason;
mod server;
mod simulated;
pub mod view;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rigor_model::Catalog;
use rigor_model::route::Route;

pub use error::ScreenError;

/// What to serve.
#[derive(Debug, Clone)]
pub struct ScreenOptions {
    /// The rig.
    pub rig: String,
    /// The route: a route file (also loaded), a route id, or `None` for the rig's only route.
    pub route: Option<String>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The store every run is recorded in.
    pub store: PathBuf,
    /// The token requests must carry; required when `listen` is not loopback.
    pub token: Option<String>,
    /// On a virtual bench: faults every unit scanned into a slot is built with (beside the
    /// demo's units' own), to show a station's rig problems.
    pub faults: std::collections::BTreeMap<String, Vec<rigor_bench::Fault>>,
}

/// The paths to load for `route`: `paths`, and the route's file when it is one outside them.
pub fn paths_with_route(paths: &[PathBuf], route: Option<&str>) -> Vec<PathBuf> {
    let mut all = paths.to_vec();
    if let Some(file) = route.map(Path::new).filter(|p| p.is_file()) {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        let file_c = canonical(file);
        if !paths.iter().any(|p| file_c.starts_with(canonical(p))) {
            all.push(file.to_owned());
        }
    }
    all
}

/// The route `choice` names (a file or an id), or the rig's only one.
pub fn choose_route(
    catalog: &Catalog,
    rig: &str,
    choice: Option<&str>,
) -> Result<Route, ScreenError> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let found = match choice {
        Some(c) if Path::new(c).is_file() => {
            let file = canonical(Path::new(c));
            catalog
                .routes
                .values()
                .find(|r| canonical(&r.ctx.file) == file)
        }
        Some(id) => catalog.routes.get(id),
        None => {
            let mut mine = catalog.routes.values().filter(|r| r.value.on_rig == rig);
            match (mine.next(), mine.next()) {
                (Some(one), None) => Some(one),
                (None, _) => {
                    return Err(ScreenError::NoRoute {
                        rig: rig.to_owned(),
                        why: "no route file names it; give --route".into(),
                    });
                }
                (Some(_), Some(_)) => {
                    return Err(ScreenError::NoRoute {
                        rig: rig.to_owned(),
                        why: "several routes name it; say which with --route".into(),
                    });
                }
            }
        }
    };
    let route = found.ok_or_else(|| ScreenError::NoRoute {
        rig: rig.to_owned(),
        why: format!(
            "no route `{}`; routes: {}",
            choice.unwrap_or_default(),
            catalog
                .routes
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    if route.value.on_rig != rig {
        return Err(ScreenError::WrongRig {
            route: route.value.route.clone(),
            route_rig: route.value.on_rig.clone(),
            rig: rig.to_owned(),
        });
    }
    Ok(route.value.clone())
}

/// A station screen ready to serve: everything checked, the address bound.
pub struct Screen {
    app: Arc<app::App>,
    listener: tokio::net::TcpListener,
    token: Option<String>,
    _builds: tempfile::TempDir,
}

/// Loads the station's state and binds its address; nothing runs yet.
pub async fn open(catalog: Catalog, options: ScreenOptions) -> Result<Screen, ScreenError> {
    let route = choose_route(&catalog, &options.rig, options.route.as_deref())?;
    let rig = rigor_station::rig(&catalog, &options.rig)?.value.clone();
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        return Err(ScreenError::TokenNeeded {
            addr: options.listen.to_string(),
        });
    }
    for slot in options.faults.keys() {
        if rig.virtual_bench.is_none() {
            return Err(rigor_station::StationError::from(
                rigor_station::RequestError::NotSimulated {
                    option: "--fault",
                    rig: options.rig.clone(),
                },
            )
            .into());
        }
        if !rig.slots.contains_key(slot) {
            return Err(rigor_station::StationError::from(
                rigor_station::RequestError::SlotNotRun {
                    option: "--fault",
                    slot: slot.clone(),
                    running: rig.slots.keys().cloned().collect::<Vec<_>>().join(", "),
                },
            )
            .into());
        }
    }
    let station = rig
        .station
        .as_ref()
        .map_or_else(|| rig.rig.clone(), |s| s.id.clone());
    // A tile for each slot that can hold a unit of the route: a gateway's cradle has no place
    // on a controller's end-of-line screen.
    let usable: std::collections::BTreeSet<String> = route
        .scenarios
        .iter()
        .flat_map(|scenario| rigor_station::slots_for(&catalog, &options.rig, scenario))
        .collect();
    let slots: Vec<String> = rig
        .slots
        .keys()
        .filter(|slot| usable.contains(*slot))
        .cloned()
        .collect();
    let shared = view::Shared::new(&station, &route.route, &route.scenarios, &slots);
    let store = rigor_store::Store::open(&options.store).map_err(ScreenError::Store)?;
    let sinks = rigor_station::record_into(
        &options.store,
        vec![Box::new(events::ScreenEvents::new(shared.clone()))],
    )?;
    let builds = tempfile::Builder::new()
        .prefix("rigor-station-builds-")
        .tempdir()
        .map_err(|source| ScreenError::Builds {
            path: std::env::temp_dir(),
            source,
        })?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ScreenError::Listen {
            addr: options.listen.to_string(),
            source,
        })?;
    let app = Arc::new(app::App::new(
        catalog,
        options.rig.clone(),
        station,
        route,
        builds.path().to_owned(),
        sinks,
        shared,
        store,
        options.faults,
    ));
    app.refresh_panel().await?;
    Ok(Screen {
        app,
        listener,
        token: options.token,
        _builds: builds,
    })
}

impl Screen {
    /// The address the screen is served on.
    pub fn local_addr(&self) -> Result<SocketAddr, ScreenError> {
        self.listener.local_addr().map_err(ScreenError::Serve)
    }

    /// The address to open in a browser, with the token.
    pub fn url(&self) -> Result<String, ScreenError> {
        let addr = self.local_addr()?;
        Ok(match &self.token {
            Some(t) => format!("http://{addr}/?token={t}"),
            None => format!("http://{addr}/"),
        })
    }

    /// Serves the page until Ctrl-C or SIGTERM; then aborts every slot's cycle and waits until
    /// each is torn down and recorded.
    pub async fn serve(self) -> Result<(), ScreenError> {
        let app = self.app.clone();
        let router = server::router(server::Server {
            app: app.clone(),
            token: self.token.map(Arc::from),
        });
        let closing = app.clone();
        let shutdown = async move {
            rigor_station::interrupted().await;
            closing
                .closing
                .store(true, std::sync::atomic::Ordering::SeqCst);
            closing.shared.touch();
        };
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ScreenError::Serve)?;
        for control in app.slots.values() {
            control.abort();
        }
        for control in app.slots.values() {
            control.idle().await;
        }
        for e in app.sinks.finish().await {
            tracing::error!("{}", cycle::chain(&e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn shipped() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        ["device-profiles", "rigs", "fixtures", "examples", "routes"]
            .iter()
            .map(|d| root.join(d))
            .collect()
    }

    #[test]
    fn the_rigs_one_route_is_the_default_and_a_file_or_id_names_one() {
        let catalog = rigor_station::load(&shipped()).unwrap();
        let route = choose_route(&catalog, "virtual-bench", None).unwrap();
        assert_eq!(route.route, "eol-fridge");
        let file = shipped()[4].join("eol-fridge.yaml");
        let by_file = choose_route(&catalog, "virtual-bench", file.to_str()).unwrap();
        assert_eq!(by_file, route);
        let err = choose_route(&catalog, "qemu", Some("eol-fridge")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "route `eol-fridge` is for rig `virtual-bench`, not `qemu`"
        );
        let err = choose_route(&catalog, "rack-a", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no route for rig `rack-a`: no route file names it; give --route"
        );
    }

    #[test]
    fn a_route_file_outside_the_loaded_folders_is_loaded_too() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yaml");
        std::fs::write(&file, "x").unwrap();
        let paths = shipped();
        let with = paths_with_route(&paths, file.to_str());
        assert_eq!(with.len(), paths.len() + 1);
        let inside = paths[4].join("eol-fridge.yaml");
        assert_eq!(paths_with_route(&paths, inside.to_str()), paths);
    }
}
