//! What `rigor run` and `rigor test` both take: what goes into each slot's run (parameters,
//! builds, operator, prompt answers, the store, JUnit) and what the virtual bench builds into
//! its units. One declaration, so the two commands cannot drift apart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rigor_model::value::Scalar;
use rigor_station::{BenchUnits, RequestError, StationError};

/// What goes into each slot's run.
#[derive(Debug, clap::Args)]
pub struct RunInputs {
    /// Scenario parameters, `NAME=VALUE`.
    #[arg(long = "param", value_parser = crate::parse_param)]
    pub params: Vec<(String, Scalar)>,
    /// The folder with the builds to flash: the scenarios' `build_dir` parameter (the same as
    /// `--param build_dir=DIR`).
    #[arg(long, value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// The operator's id (a person or a CI job), kept with every run.
    #[arg(long)]
    pub operator: Option<String>,
    /// Write a JUnit report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Answer an operator prompt in a slot, `SLOT=TEXT` (a scanned label), in order; without an
    /// answer left, a prompt is an error (no operator).
    #[arg(long = "answer", value_name = "SLOT=TEXT")]
    pub answers: Vec<String>,
    /// The store file (SQLite) that keeps every unit's runs.
    #[arg(long, default_value = "rigor.db")]
    pub store: PathBuf,
    /// What the virtual bench builds into its units.
    #[command(flatten)]
    pub bench: BenchArgs,
}

impl RunInputs {
    /// The scenario parameters, `--firmware` as `build_dir`.
    pub fn params(&self) -> BTreeMap<String, Scalar> {
        let mut params: BTreeMap<String, Scalar> = self.params.iter().cloned().collect();
        if let Some(dir) = &self.firmware {
            params.insert(
                "build_dir".to_owned(),
                Scalar::Text(dir.display().to_string()),
            );
        }
        params
    }
}

/// What the virtual bench builds into each slot's unit.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// On a virtual bench: build a slot's unit with a fault, `SLOT=FAULT` (dead, slow-boot,
    /// stuck-pin, flaky-sensor, noisy-line, disconnecting-console, unplugged-console,
    /// bricks-on-power-cut, crashes-on-command).
    #[arg(long = "fault", value_name = "SLOT=FAULT")]
    pub faults: Vec<String>,
    /// On a virtual bench: the slot's unit already carries this firmware version, `SLOT=VERSION`
    /// (as units arrive from an earlier station); otherwise it is blank until a scenario flashes it.
    #[arg(long = "installed", value_name = "SLOT=VERSION")]
    pub installed: Vec<String>,
}

impl BenchArgs {
    /// The units, parsed.
    pub fn units(&self) -> Result<BenchUnits, StationError> {
        bench_units(&self.faults, &self.installed)
    }
}

/// What the bench builds into each slot's unit, from `--fault SLOT=FAULT` and
/// `--installed SLOT=VERSION`.
pub fn bench_units(faults: &[String], installed: &[String]) -> Result<BenchUnits, StationError> {
    let mut bench = BenchUnits::default();
    for f in faults {
        // Whether the slot runs is the station's check, as for `--installed`.
        let parsed = f
            .split_once('=')
            .and_then(|(slot, name)| Some((slot, rigor_bench::Fault::parse(name)?)));
        let Some((slot, fault)) = parsed else {
            return Err(StationError::Request(RequestError::BadValue {
                option: "--fault",
                given: f.clone(),
                expected: format!("SLOT=FAULT with FAULT one of {}", rigor_bench::Fault::NAMES),
            }));
        };
        bench.faults.entry(slot.to_owned()).or_default().push(fault);
    }
    for i in installed {
        let Some((slot, version)) = i.split_once('=') else {
            return Err(StationError::Request(RequestError::BadValue {
                option: "--installed",
                given: i.clone(),
                expected: "SLOT=VERSION".to_owned(),
            }));
        };
        bench.installed.insert(slot.to_owned(), version.to_owned());
    }
    Ok(bench)
}
