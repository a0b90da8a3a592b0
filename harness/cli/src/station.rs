//! `rigor station`: the operator's screen of a factory station, served until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::exit_code;

/// What `rigor station` was asked.
#[derive(Debug, clap::Args)]
pub struct StationArgs {
    /// The rig this station is.
    #[arg(long)]
    pub rig: String,
    /// The route: a route file or a route id (default: the one route for the rig).
    #[arg(long, value_name = "FILE|ID")]
    pub route: Option<String>,
    /// Where to serve the screen; anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The token every request must carry (the screen's address then ends in `?token=…`).
    #[arg(long, env = "RIGOR_STATION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// On a virtual bench: build every unit scanned into a slot with a fault, `SLOT=FAULT`
    /// (dead, slow-boot, stuck-pin, flaky-sensor, noisy-line, disconnecting-console,
    /// unplugged-console), to see the screen's rig problems.
    #[arg(long = "fault", value_name = "SLOT=FAULT")]
    pub faults: Vec<String>,
    /// The store file (SQLite) that keeps every unit's runs.
    #[arg(long, default_value = "rigor.db")]
    pub store: PathBuf,
    /// The rigor files.
    #[command(flatten)]
    pub tree: crate::check::Tree,
}

/// Serves the screen until Ctrl-C or SIGTERM.
pub async fn run(args: StationArgs) -> i32 {
    let paths = rigor_station_screen::paths_with_route(&args.tree.paths(), args.route.as_deref());
    let catalog = match rigor_station::load(&paths) {
        Ok(catalog) => catalog,
        Err(e) => return exit_code::report(&e),
    };
    let faults = match crate::inputs::bench_units(&args.faults, &[]) {
        Ok(bench) => bench.faults,
        Err(e) => return exit_code::report(&e),
    };
    let options = rigor_station_screen::ScreenOptions {
        rig: args.rig,
        route: args.route,
        listen: args.listen,
        store: args.store,
        token: args.token,
        faults,
    };
    let screen = match rigor_station_screen::open(catalog, options).await {
        Ok(screen) => screen,
        Err(e) => return screen_error(&e),
    };
    match screen.url() {
        Ok(url) => println!("rigor station: open {url} (Ctrl-C stops the station)"),
        Err(e) => return screen_error(&e),
    }
    match screen.serve().await {
        Ok(()) => {
            println!("rigor station: stopped");
            exit_code::SUCCESS
        }
        Err(e) => screen_error(&e),
    }
}

fn screen_error(e: &rigor_station_screen::ScreenError) -> i32 {
    eprintln!("error: {}", exit_code::chain(e));
    exit_code::of_error(e.kind())
}
