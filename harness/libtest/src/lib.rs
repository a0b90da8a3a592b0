//! rigor's test mode: every scenario × slot a rig can run becomes a libtest trial, named
//! `scenario::generation::slot` (`smoke::gen2::slot1`), run through `libtest-mimic` with
//! libtest's own command line: name filters, `--exact`, `--skip`, `--list --format terse`,
//! `--ignored`/`--include-ignored` (scenarios tagged `slow` or `destructive`), `--test-threads`
//! (how many slots run at once) and libtest's exit codes. So `cargo test` and `cargo nextest`
//! run hardware tests as they run any Rust test, and CI reads their output as it always has.
//!
//! Every trial is recorded in the store exactly as `rigor run` records it; a failing trial's
//! message is the failing measurement against its limits, or the classified error.
//!
//! A firmware repository adds `[[test]] name = "hil" harness = false` to its `Cargo.toml` and
//! this as `tests/hil.rs`:
//!
//! ```no_run
//! fn main() {
//!     let config = rigor_libtest::Config::new("virtual-bench")
//!         .path("rigor") // the rigs, profiles, fixtures and scenarios
//!         .slot_profile("slot1", "fridge-ctl-gen1")
//!         .slot_profile("slot2", "fridge-ctl-gen2")
//!         .param("build_dir", "target/firmware");
//!     rigor_libtest::test_main(config);
//! }
//! ```
//!
//! then runs `cargo test --test hil -- smoke` or `cargo nextest run --test hil`.

// The crate example is a whole `tests/hil.rs`, its `main` included.
#![allow(clippy::needless_doctest_main)]

mod session;
pub mod trials;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use libtest_mimic::{Arguments, Conclusion};
use rigor_model::value::Scalar;
use rigor_station::{BenchUnits, StationError};

pub use trials::{IGNORED_TAGS, TrialPlan, plan_trials};

/// What the trials run on, and where they are recorded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The rig's id.
    pub rig: String,
    /// Files or folders of rigor files (default: the current folder).
    pub paths: Vec<PathBuf>,
    /// The slots to use (default: all of the rig's).
    pub slots: Vec<String>,
    /// The device profile in every slot, unless `profiles` names the slot's.
    pub profile: Option<String>,
    /// The device profile of a slot; otherwise the one generation the slot's fixture fits.
    pub profiles: BTreeMap<String, String>,
    /// A slot's unit serial; otherwise it is read from the unit.
    pub units: BTreeMap<String, String>,
    /// Scripted answers to a slot's operator prompts, in order.
    pub answers: BTreeMap<String, Vec<String>>,
    /// Scenario parameters (`build_dir`: the folder with the builds to flash).
    pub params: BTreeMap<String, Scalar>,
    /// On a virtual bench: how its units are built (faults, installed firmware).
    pub bench: BenchUnits,
    /// The store that keeps every run.
    pub store: PathBuf,
    /// A JUnit file to write, as `rigor run --junit` does.
    pub junit: Option<PathBuf>,
    /// The person or CI job kept with every run.
    pub operator: Option<String>,
    /// Hold the slots through leases shared across hosts (taken when the first trial runs,
    /// renewed while trials go on, checked before every step).
    pub lease: Option<rigor_station::rig_lease::LeasePolicy>,
}

impl Config {
    /// Trials on `rig`, from the rigor files in the current folder, recorded in `rigor.db`.
    pub fn new(rig: impl Into<String>) -> Self {
        Config {
            rig: rig.into(),
            paths: Vec::new(),
            slots: Vec::new(),
            profile: None,
            profiles: BTreeMap::new(),
            units: BTreeMap::new(),
            answers: BTreeMap::new(),
            params: BTreeMap::new(),
            bench: BenchUnits::default(),
            store: PathBuf::from("rigor.db"),
            junit: None,
            operator: None,
            lease: None,
        }
    }

    /// Reads rigor files from `path` too (a file or a folder).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.paths.push(path.into());
        self
    }

    /// Puts a unit of `profile` in `slot` (and uses the slot).
    pub fn slot_profile(mut self, slot: impl Into<String>, profile: impl Into<String>) -> Self {
        let slot = slot.into();
        if !self.slots.contains(&slot) {
            self.slots.push(slot.clone());
        }
        self.profiles.insert(slot, profile.into());
        self
    }

    /// The unit in `slot` has serial number `serial` (otherwise it is read from the unit).
    pub fn unit(mut self, slot: impl Into<String>, serial: impl Into<String>) -> Self {
        self.units.insert(slot.into(), serial.into());
        self
    }

    /// Gives a scenario parameter a value.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), Scalar::Text(value.into()));
        self
    }

    /// Records in the store at `path`.
    pub fn store(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = path.into();
        self
    }

    /// Writes a JUnit file at `path`.
    pub fn junit(mut self, path: impl Into<PathBuf>) -> Self {
        self.junit = Some(path.into());
        self
    }

    /// On a virtual bench: builds `slot`'s unit with `fault`.
    pub fn fault(mut self, slot: impl Into<String>, fault: rigor_bench::Fault) -> Self {
        self.bench
            .faults
            .entry(slot.into())
            .or_default()
            .push(fault);
        self
    }

    /// On a virtual bench: `slot`'s unit already carries firmware `version`.
    pub fn installed(mut self, slot: impl Into<String>, version: impl Into<String>) -> Self {
        self.bench.installed.insert(slot.into(), version.into());
        self
    }
}

/// Why the trials could not run.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The rigor files, the rig or a binding (as for `rigor run`).
    #[error(transparent)]
    Station(#[from] StationError),
    /// The async runtime did not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Runs the trials `args` selects and exits as libtest does: 0 when every trial passed, 101
/// otherwise (also when the rigor files cannot be read or the rig is unknown).
pub fn test_main(config: Config) -> ! {
    let args = Arguments::from_args();
    match run(config, &args) {
        Ok(conclusion) => conclusion.exit(),
        Err(e) => {
            eprintln!("error: {}", rigor_station::chain(&e));
            std::process::exit(101)
        }
    }
}

/// Runs the trials `args` selects: loads and binds everything first (listing touches nothing),
/// starts the station at the first trial, and records every run.
pub fn run(config: Config, args: &Arguments) -> Result<Conclusion, TestError> {
    let paths = if config.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        config.paths.clone()
    };
    let catalog = rigor_station::load(&paths)?;
    let plans = plan_trials(&catalog, &config)?;
    let mut args = args.clone();
    // A trial holds its slot for the whole run: more threads than slots would only wait.
    let slots: std::collections::BTreeSet<&str> = plans.iter().map(|t| t.slot.as_str()).collect();
    args.test_threads = Some(args.test_threads.unwrap_or(slots.len()).max(1));
    let session = session::Session::new(catalog, config, &plans)?;
    let trials = plans
        .into_iter()
        .map(|t| session.trial(t))
        .collect::<Vec<_>>();
    let conclusion = libtest_mimic::run(&args, trials);
    for e in session.finish() {
        eprintln!("error: {}", rigor_station::chain(&*e));
    }
    Ok(conclusion)
}
