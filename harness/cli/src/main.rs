//! `rigor`: the hardware-in-the-loop test runner's command line.

use rigor_cli::{
    central, check, demo, exit_code, image, lease, netfault, parse_param, results, rig_probe, run,
    sim, station, store, test_mode,
};

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rigor_model::load::Kind;
use rigor_model::value::Scalar;

#[derive(Debug, Parser)]
#[command(name = "rigor", version, about = "Hardware-in-the-loop test runner: check, flash, power, test and record every unit", after_help = format!("{}\n\nLogs go to stderr; RIGOR_LOG filters them (`info`, `rigor_runner=debug`).", exit_code::TABLE))]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate rigs, fixtures, profiles, instrument models and scenarios, bind every scenario to
    /// every generation, fixture and rig slot it applies to, and print the matrix. Touches no hardware.
    Check {
        /// The rigor files.
        #[command(flatten)]
        tree: check::Tree,
        /// Files or folders to read, as with `--path` (kept for scripts that name them so).
        #[arg(hide = true, value_name = "PATH", id = "positional_paths")]
        positional: Vec<PathBuf>,
        /// Give a scenario parameter a value: `--param build_dir=out/fw`.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, Scalar)>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: check::Format,
    },
    /// The demo: four simulated units of three generations on the virtual bench, recorded and reported.
    Demo(demo::DemoArgs),
    /// Run a scenario on a rig's slots: flash, power, test, record every unit.
    Run(Box<run::RunArgs>),
    /// Every scenario × slot the rig can run as a libtest trial (`smoke::gen2::slot1`), with
    /// libtest's filters, `--list`, `--ignored`, `--test-threads` and exit codes (101: a trial failed).
    Test(Box<test_mode::TestArgs>),
    /// The virtual bench on its own until Ctrl-C: the demo's units, their consoles and instruments
    /// on real OS interfaces, for exploring by hand and writing scenarios.
    Sim(sim::SimArgs),
    /// The operator's screen of a factory station, in a browser: scan, test, PASS/FAIL, next unit.
    Station(Box<station::StationArgs>),
    /// Release keys and signed image manifests: keygen, sign (CI), verify (as a station would).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Rig leases shared by every host of a rack (PostgreSQL): acquire, list, release, break.
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
    /// Look at a rig's hardware: `rigor rig probe` matches its USB adapters and probes.
    #[command(subcommand)]
    Rig(rig_probe::RigCommand),
    /// Analysts' views of a store: yield, pareto, capability, spc, unit, rejudge, retest, report, export.
    Results(Box<results::ResultsArgs>),
    /// Packet-level network faults: `rigor netfault serve` answers toxiproxy's API.
    #[command(subcommand)]
    Netfault(netfault::NetfaultCommand),
    /// The station store's forwarding to a central store: push, status.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// The central PostgreSQL store: migrate, history.
    #[command(subcommand)]
    Central(central::CentralCommand),
    /// Print the JSON Schema of a file kind, for editors (yaml-language-server) and CI.
    Schema {
        /// profile, rig, fixture, instrument-model, scenario, fragment or route.
        #[arg(value_parser = parse_kind, required_unless_present = "write")]
        kind: Option<Kind>,
        /// Write every kind's schema into this folder instead.
        #[arg(long, value_name = "DIR", conflicts_with = "kind")]
        write: Option<PathBuf>,
    },
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::parse(s).ok_or_else(|| {
        let keys: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).collect();
        format!("unknown kind `{s}`; expected one of: {}", keys.join(", "))
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr, filtered by RIGOR_LOG (`info`, `rigor_runner=debug`, ...); warnings by
    // default, so a retried step is never silent. Progress and results go to stdout.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RIGOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let code = match cli.command {
        Command::Run(args) => tokio::runtime::Runtime::new()?.block_on(run::run(*args)),
        Command::Demo(args) => tokio::runtime::Runtime::new()?.block_on(demo::run(args)),
        Command::Test(args) => test_mode::run(*args),
        Command::Image(command) => image::run(command),
        Command::Lease(c) => tokio::runtime::Runtime::new()?.block_on(lease::run(c)),
        Command::Rig(command) => rig_probe::run(command),
        Command::Results(args) => results::run(*args),
        Command::Sim(args) => tokio::runtime::Runtime::new()?.block_on(sim::run(args)),
        Command::Station(args) => tokio::runtime::Runtime::new()?.block_on(station::run(*args)),
        Command::Netfault(c) => tokio::runtime::Runtime::new()?.block_on(netfault::run(c)),
        Command::Store(c) => tokio::runtime::Runtime::new()?.block_on(store::run(c)),
        Command::Central(c) => tokio::runtime::Runtime::new()?.block_on(central::run(c)),
        Command::Check {
            mut tree,
            positional,
            params,
            format,
        } => {
            let params: BTreeMap<String, Scalar> = params.into_iter().collect();
            tree.paths.extend(positional);
            check::run(tree.paths, &params, format)
        }
        Command::Schema { kind, write } => {
            if let Some(dir) = write {
                std::fs::create_dir_all(&dir)?;
                for kind in Kind::ALL {
                    let path = dir.join(rigor_model::schema::file_name(kind));
                    let text = format!("{:#}\n", rigor_model::schema::json_schema(kind));
                    std::fs::write(&path, text)?;
                    println!("wrote {}", path.display());
                }
            } else if let Some(kind) = kind {
                println!("{:#}", rigor_model::schema::json_schema(kind));
            }
            exit_code::SUCCESS
        }
    };
    std::process::exit(code);
}
