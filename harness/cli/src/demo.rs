//! `rigor demo`: the README's main job, run by the station library's demo.

use std::path::PathBuf;

use crate::exit_code;

/// What `rigor demo` was asked.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The store file.
    #[arg(long, default_value = "rigor-demo.db")]
    pub store: PathBuf,
    /// The JUnit file.
    #[arg(long, default_value = "rigor-demo.junit.xml")]
    pub junit: PathBuf,
    /// Where the demo's firmware builds go.
    #[arg(long, default_value = "rigor-demo-firmware")]
    pub firmware: PathBuf,
}

/// Runs the demo and returns the exit code.
pub async fn run(args: DemoArgs) -> i32 {
    let catalog = match rigor_station::load(&crate::check::paths_or_default(&[])) {
        Ok(catalog) => catalog,
        Err(e) => return exit_code::report(&e),
    };
    let files = rigor_station::demo::DemoFiles {
        store: args.store,
        junit: args.junit,
        firmware: args.firmware,
    };
    match rigor_station::demo::run(&catalog, &files, &mut std::io::stdout()).await {
        Ok(true) => exit_code::SUCCESS,
        Ok(false) => exit_code::INFRASTRUCTURE,
        Err(rigor_station::demo::DemoError::Station(e)) => exit_code::report(&e),
        Err(e) => {
            eprintln!("error: {}", exit_code::chain(&e));
            exit_code::INFRASTRUCTURE
        }
    }
}
