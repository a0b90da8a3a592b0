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
    /// The rig: `virtual-bench` (four simulated units of three generations) or `qemu` (the
    /// fixture firmware built, signed and flashed onto an emulated board; needs
    /// `qemu-system-arm` and `rustup target add thumbv7m-none-eabi`).
    #[arg(long, default_value = "virtual-bench")]
    pub rig: DemoRig,
    /// Forwarding to a central store while the demo runs.
    #[command(flatten)]
    pub central: crate::central::CentralArgs,
}

/// The rigs the demo runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoRig {
    /// The virtual bench.
    VirtualBench,
    /// The QEMU rig.
    Qemu,
}

/// Runs the demo and returns the exit code.
pub async fn run(args: DemoArgs) -> i32 {
    // The shipped files from this folder in a checkout, else the copy built into rigor.
    let tree = match rigor_station::shipped::tree(std::path::Path::new(".")) {
        Ok(tree) => tree,
        Err(e) => {
            eprintln!("error: cannot write the shipped rigor files to a temporary folder: {e}");
            return exit_code::INFRASTRUCTURE;
        }
    };
    let catalog = match rigor_station::load(tree.paths()) {
        Ok(catalog) => catalog,
        Err(e) => return exit_code::report(&e),
    };
    let forwarding = match args.central.start(&args.store) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let files = rigor_station::demo::DemoFiles {
        store: args.store,
        junit: args.junit,
        firmware: args.firmware,
    };
    let mut out = std::io::stdout();
    let ran = match args.rig {
        DemoRig::VirtualBench => rigor_station::demo::run(&catalog, &files, &mut out).await,
        DemoRig::Qemu => rigor_station::demo_qemu::run(&catalog, &files, &mut out).await,
    };
    if let Some(forwarding) = forwarding {
        forwarding.finish().await;
    }
    match ran {
        Ok(true) => exit_code::SUCCESS,
        Ok(false) => exit_code::INFRASTRUCTURE,
        Err(rigor_station::demo::DemoError::Station(e)) => exit_code::report(&e),
        Err(e) => {
            eprintln!("error: {}", exit_code::chain(&e));
            exit_code::INFRASTRUCTURE
        }
    }
}
