//! `rigor test`: every scenario × slot the rig can run as a libtest trial, with libtest's
//! command line (filters, `--exact`, `--skip`, `--list`, `--ignored`, `--test-threads`) and
//! exit codes (0 all passed, 101 a trial failed).

use std::path::PathBuf;

use rigor_libtest::{Config, TestError};
use rigor_model::value::Scalar;

use crate::exit_code;

/// What `rigor test` was asked.
#[derive(Debug, clap::Args)]
// libtest's arguments bring their own help layout; rigor's is the usual one.
#[command(
    help_template = "{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}"
)]
pub struct TestArgs {
    /// The rig's id.
    #[arg(long)]
    pub rig: String,
    /// Slots to use (default: every slot of the rig).
    #[arg(long = "slot")]
    pub slots: Vec<String>,
    /// The device profile in every slot, or `SLOT=PROFILE` for one (default: the one generation
    /// the slot's fixture fits).
    #[arg(long = "profile", value_name = "[SLOT=]PROFILE")]
    pub profiles: Vec<String>,
    /// A slot's unit serial, `SLOT=SERIAL` (default: read from the unit).
    #[arg(long = "unit", value_name = "SLOT=SERIAL")]
    pub units: Vec<String>,
    /// Scenario parameters, `NAME=VALUE`.
    #[arg(long = "param", value_parser = crate::parse_param)]
    pub params: Vec<(String, Scalar)>,
    /// The folder with the builds to flash (the scenarios' `build_dir` parameter).
    #[arg(long, value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// The person or CI job kept with every run.
    #[arg(long)]
    pub operator: Option<String>,
    /// Write a JUnit report here (as `rigor run --junit`).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Answer an operator prompt in a slot, `SLOT=TEXT`, in order.
    #[arg(long = "answer", value_name = "SLOT=TEXT")]
    pub answers: Vec<String>,
    /// On a virtual bench: build a slot's unit with a fault, `SLOT=FAULT`.
    #[arg(long = "fault", value_name = "SLOT=FAULT")]
    pub faults: Vec<String>,
    /// On a virtual bench: the slot's unit already carries this firmware, `SLOT=VERSION`.
    #[arg(long = "installed", value_name = "SLOT=VERSION")]
    pub installed: Vec<String>,
    /// The store file (SQLite) that keeps every unit's runs.
    #[arg(long, default_value = "rigor.db")]
    pub store: PathBuf,
    /// Shared rig leases.
    #[command(flatten)]
    pub lease: crate::lease::LeaseArgs,
    /// The rigor files.
    #[command(flatten)]
    pub tree: crate::check::Tree,
    /// libtest's own options.
    #[command(flatten)]
    pub libtest: rigor_libtest::Arguments,
}

/// Runs the trials and returns the exit code.
pub fn run(args: TestArgs) -> i32 {
    let config = match config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return exit_code::USAGE;
        }
    };
    match rigor_libtest::run(config, &args.libtest) {
        Ok(conclusion) if conclusion.has_failed() => LIBTEST_FAILED,
        Ok(_) => exit_code::SUCCESS,
        Err(TestError::Station(e)) => exit_code::report(&e),
        Err(e @ TestError::Runtime(_)) => {
            eprintln!("error: {}", exit_code::chain(&e));
            exit_code::INFRASTRUCTURE
        }
    }
}

/// libtest's exit code when a test failed.
pub const LIBTEST_FAILED: i32 = 101;

fn config(args: &TestArgs) -> Result<Config, String> {
    let mut config = Config::new(args.rig.clone());
    config.paths = args.tree.paths();
    config.slots = args.slots.clone();
    for p in &args.profiles {
        match p.split_once('=') {
            Some((slot, profile)) => {
                config.profiles.insert(slot.to_owned(), profile.to_owned());
            }
            None => config.profile = Some(p.clone()),
        }
    }
    config.units = pairs("--unit", "SLOT=SERIAL", &args.units)?
        .into_iter()
        .collect();
    for (slot, text) in pairs("--answer", "SLOT=TEXT", &args.answers)? {
        config.answers.entry(slot).or_default().push(text);
    }
    config.params = args.params.iter().cloned().collect();
    if let Some(dir) = &args.firmware {
        config.params.insert(
            "build_dir".to_owned(),
            Scalar::Text(dir.display().to_string()),
        );
    }
    config.bench =
        crate::run::bench_units(&args.faults, &args.installed).map_err(|e| exit_code::chain(&e))?;
    config.store = args.store.clone();
    config.junit = args.junit.clone();
    config.operator = args.operator.clone();
    config.lease = args.lease.policy(Vec::new());
    Ok(config)
}

/// `SLOT=VALUE` options, in order; the station checks that each slot runs.
fn pairs(option: &str, form: &str, given: &[String]) -> Result<Vec<(String, String)>, String> {
    given
        .iter()
        .map(|g| match g.split_once('=') {
            Some((slot, value)) => Ok((slot.to_owned(), value.to_owned())),
            None => Err(format!("`{option} {g}`: write {form}")),
        })
        .collect()
}
