//! `rigor test`: every scenario × slot the rig can run as a libtest trial, with libtest's
//! command line (filters, `--exact`, `--skip`, `--list`, `--ignored`, `--test-threads`) and
//! exit codes (0 all passed, 101 a trial failed).

use rigor_libtest::{Config, TestError};

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
    /// What goes into each slot's run.
    #[command(flatten)]
    pub inputs: crate::inputs::RunInputs,
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
    for (slot, text) in pairs("--answer", "SLOT=TEXT", &args.inputs.answers)? {
        config.answers.entry(slot).or_default().push(text);
    }
    config.params = args.inputs.params();
    config.bench = args
        .inputs
        .bench
        .units()
        .map_err(|e| exit_code::chain(&e))?;
    config.store = args.inputs.store.clone();
    config.junit = args.inputs.junit.clone();
    config.operator = args.inputs.operator.clone();
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
