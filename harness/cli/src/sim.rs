//! `rigor sim`: the virtual bench on its own, until Ctrl-C.

use crate::exit_code;

/// What `rigor sim` was asked.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Build a slot's unit with a fault, `SLOT=FAULT` (see `rigor run --fault`).
    #[arg(long = "fault", value_name = "SLOT=FAULT")]
    pub faults: Vec<String>,
    /// Units arrive blank: nothing boots until a scenario flashes it.
    #[arg(long)]
    pub blank: bool,
    /// The rigor files.
    #[command(flatten)]
    pub tree: crate::check::Tree,
}

/// Starts the bench, prints where each unit's hardware is, and waits for Ctrl-C or SIGTERM.
pub async fn run(args: SimArgs) -> i32 {
    let catalog = match rigor_station::load(&args.tree.paths()) {
        Ok(catalog) => catalog,
        Err(e) => return exit_code::report(&e),
    };
    let faults = match crate::inputs::bench_units(&args.faults, &[]) {
        Ok(bench) => bench.faults,
        Err(e) => return exit_code::report(&e),
    };
    let station = match rigor_station::sim::start(&catalog, &faults, args.blank).await {
        Ok(station) => station,
        Err(e) => return exit_code::report(&e),
    };
    println!("rigor sim: the virtual bench runs; Ctrl-C stops it\n");
    print!(
        "{}",
        rigor_station::sim::describe(&catalog, &station, args.blank)
    );
    println!(
        "Power a unit by writing its supply's `voltage_set` and `output` registers, then talk on its console."
    );
    rigor_station::interrupted().await;
    println!("rigor sim: stopped");
    drop(station);
    exit_code::SUCCESS
}
