//! `rigor run`: bind a scenario to a rig's slots, open their backends, run every slot in parallel,
//! record every unit, and report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rigor_model::Catalog;
use rigor_model::value::Scalar;
use rigor_plan::Target;
use rigor_runner::engine::{RunRequest, Sinks};
use rigor_runner::event::{RunOutcome, Subscriber};
use rigor_runner::recorder::Recorder;
use rigor_runner::station::{SlotJob, run_slots};

use crate::exit_code;

/// What `rigor run` was asked.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The rig's id.
    #[arg(long)]
    pub rig: String,
    /// The scenario's name.
    #[arg(long)]
    pub scenario: String,
    /// Slots to run (default: every slot of the rig).
    #[arg(long = "slot")]
    pub slots: Vec<String>,
    /// The device profile in the slots (default: the one generation the slot's fixture fits).
    #[arg(long)]
    pub profile: Option<String>,
    /// The unit's serial number (one slot), or `SLOT=SERIAL` (several). A slot without one reads
    /// it from its unit, as the profile's `identity.serial` says.
    #[arg(long = "unit")]
    pub units: Vec<String>,
    /// Scenario parameters, `NAME=VALUE`.
    #[arg(long = "param", value_parser = crate::parse_param)]
    pub params: Vec<(String, Scalar)>,
    /// The folder with the builds to flash: the scenarios' `build_dir` parameter (the same as
    /// `--param build_dir=DIR`).
    #[arg(long, value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// The operator's id, kept with every run.
    #[arg(long)]
    pub operator: Option<String>,
    /// Write a JUnit report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Print every event as a JSON line instead of the progress lines.
    #[arg(long, value_enum, default_value = "text")]
    pub format: crate::check::Format,
    /// Answer an operator prompt in a slot, `SLOT=TEXT` (a scanned label), in order; without an
    /// answer left, a prompt is an error (no operator).
    #[arg(long = "answer", value_name = "SLOT=TEXT")]
    pub answers: Vec<String>,
    /// On a virtual bench: build a slot's unit with a fault, `SLOT=FAULT` (dead, slow-boot,
    /// stuck-pin, flaky-sensor, noisy-line, disconnecting-console, unplugged-console).
    #[arg(long = "fault", value_name = "SLOT=FAULT")]
    pub faults: Vec<String>,
    /// On a virtual bench: the slot's unit already carries this firmware version, `SLOT=VERSION`
    /// (as units arrive from an earlier station); otherwise it is blank until a scenario flashes it.
    #[arg(long = "installed", value_name = "SLOT=VERSION")]
    pub installed: Vec<String>,
    /// The store file (SQLite) that keeps every unit's runs.
    #[arg(long, default_value = "rigor.db")]
    pub store: PathBuf,
    /// Folders with rigor files (default: the shipped folders).
    #[arg(long = "path")]
    pub paths: Vec<PathBuf>,
}

/// Runs and returns the exit code.
pub async fn run(args: RunArgs) -> i32 {
    let paths = crate::check::paths_or_default(&args.paths);
    let (catalog, diags) = rigor_model::load_paths(&paths);
    if !diags.is_empty() {
        eprint!("{diags}");
        return exit_code::INVALID_INPUT;
    }
    let mut params: BTreeMap<String, Scalar> = args.params.iter().cloned().collect();
    if let Some(dir) = &args.firmware {
        params.insert(
            "build_dir".to_owned(),
            Scalar::Text(dir.display().to_string()),
        );
    }
    // The bench (if the rig has one) lives until every run is over.
    let (jobs, _simulators) = match prepare(&catalog, &args, &params).await {
        Ok(prepared) => prepared,
        Err((code, message)) => {
            eprintln!("error: {message}");
            return code;
        }
    };
    let mut subscribers: Vec<Box<dyn Subscriber>> = Vec::new();
    match args.format {
        crate::check::Format::Json => {
            subscribers.push(Box::new(rigor_report::JsonLines::new(std::io::stdout())))
        }
        crate::check::Format::Text => subscribers.push(Box::new(crate::progress::Progress::new())),
    }
    if let Some(path) = &args.junit {
        subscribers.push(Box::new(rigor_report::JunitWriter::new(path)));
    }
    let store = match rigor_store::Store::open(&args.store) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the store {}: {e}", args.store.display());
            return exit_code::INFRASTRUCTURE;
        }
    };
    let recorder: Box<dyn Recorder> = Box::new(crate::record::StoreRecorder::new(store));
    let sinks = Sinks::new(recorder, subscribers);
    let results = execute(jobs, sinks).await;
    let mut code = exit_code::SUCCESS;
    for (slot, result) in results {
        let c = match result {
            Ok(r) => match r.outcome {
                RunOutcome::Pass => exit_code::SUCCESS,
                RunOutcome::Fail => exit_code::TEST_FAILED,
                RunOutcome::Error => exit_code::INFRASTRUCTURE,
                RunOutcome::Aborted => exit_code::ABORTED,
            },
            Err(e) => {
                eprintln!("error: slot `{slot}`: {e}");
                exit_code::INFRASTRUCTURE
            }
        };
        code = worst(code, c);
    }
    code
}

/// The code that matters most when slots differ: aborted, then infrastructure, then failed.
fn worst(a: i32, b: i32) -> i32 {
    let rank = |c| match c {
        exit_code::ABORTED => 4,
        exit_code::INFRASTRUCTURE => 3,
        exit_code::TEST_FAILED => 2,
        _ => 1,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Runs the slots; Ctrl-C or SIGTERM tears them down and records them aborted. Lets every output
/// finish, reporting its errors.
pub(crate) async fn execute(
    jobs: Vec<SlotJob>,
    sinks: Sinks,
) -> Vec<(
    String,
    Result<rigor_runner::engine::RunResult, rigor_runner::station::SlotError>,
)> {
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(async move {
        interrupted().await;
        eprintln!("interrupted: tearing down, then recording the runs as aborted");
        let _ = cancel_tx.send(true);
    });
    let results = run_slots(
        jobs,
        sinks.clone(),
        rigor_runner::lock::default_dir(),
        cancel,
    )
    .await;
    watcher.abort();
    for e in sinks.finish() {
        eprintln!("error: {e}");
    }
    results
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Binds the scenario on each chosen slot and opens its backends.
async fn prepare(
    catalog: &Catalog,
    args: &RunArgs,
    params: &BTreeMap<String, Scalar>,
) -> Result<(Vec<SlotJob>, Simulators), (i32, String)> {
    let invalid = |m: String| (exit_code::INVALID_INPUT, m);
    let names = |keys: Vec<&String>| {
        keys.into_iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rig = catalog.rigs.get(&args.rig).ok_or_else(|| {
        invalid(format!(
            "no rig `{}`; rigs: {}",
            args.rig,
            names(catalog.rigs.keys().collect())
        ))
    })?;
    let scenario = catalog.scenarios.get(&args.scenario).ok_or_else(|| {
        invalid(format!(
            "no scenario `{}`; scenarios: {}",
            args.scenario,
            names(catalog.scenarios.keys().collect())
        ))
    })?;
    let slots: Vec<String> = if args.slots.is_empty() {
        rig.value.slots.keys().cloned().collect()
    } else {
        args.slots.clone()
    };
    let units = unit_serials(&args.units, &slots).map_err(invalid)?;
    let mut bound = Vec::new();
    for slot_name in &slots {
        let slot = rig.value.slots.get(slot_name).ok_or_else(|| {
            invalid(format!(
                "rig `{}` has no slot `{slot_name}`; slots: {}",
                args.rig,
                names(rig.value.slots.keys().collect())
            ))
        })?;
        let (profile, fixture) =
            choose(catalog, args.profile.as_deref(), &slot.kind, slot_name).map_err(invalid)?;
        if let Some(reason) = rigor_plan::matrix::skip_reason(scenario, profile) {
            return Err(invalid(format!(
                "scenario `{}` does not run on {}: {reason}",
                args.scenario, profile.value.profile
            )));
        }
        let target = Target {
            scenario,
            profile,
            fixture,
            rig,
            slot: slot_name,
        };
        let plan = rigor_plan::bind(catalog, target, params).map_err(|d| invalid(d.to_string()))?;
        // Without a serial, the unit is asked for it (its profile says how).
        let unit = units.get(slot_name).cloned();
        bound.push((plan, unit, profile.value.clone(), fixture.value.clone()));
    }
    let mut faults: BTreeMap<String, Vec<rigor_bench::Fault>> = BTreeMap::new();
    for f in &args.faults {
        let parsed = f
            .split_once('=')
            .and_then(|(slot, name)| Some((slot, rigor_bench::Fault::parse(name)?)));
        let Some((slot, fault)) = parsed else {
            return Err(invalid(format!(
                "`--fault {f}`: write SLOT=FAULT with FAULT one of {}",
                rigor_bench::Fault::NAMES
            )));
        };
        faults.entry(slot.to_owned()).or_default().push(fault);
    }
    let installed: BTreeMap<&str, &str> = args
        .installed
        .iter()
        .filter_map(|i| i.split_once('='))
        .collect();
    if installed.len() != args.installed.len() {
        return Err(invalid("`--installed` takes SLOT=VERSION".into()));
    }
    if (!faults.is_empty() || !installed.is_empty()) && rig.value.virtual_bench.is_none() {
        return Err(invalid(format!(
            "`--fault` builds simulated units; rig `{}` has no virtual bench",
            args.rig
        )));
    }
    let bench = match &rig.value.virtual_bench {
        Some(settings) => {
            let specs = bound
                .iter()
                .map(|(plan, unit, profile, fixture)| rigor_bench::UnitSpec {
                    slot: plan.slot.clone(),
                    serial: unit.clone().unwrap_or_else(|| {
                        rigor_bench::serial_number(
                            profile.generation.as_deref().unwrap_or_default(),
                            &plan.slot,
                            settings.seed,
                        )
                    }),
                    profile: profile.clone(),
                    fixture: fixture.clone(),
                    faults: faults.get(&plan.slot).cloned().unwrap_or_default(),
                    installed: installed.get(plan.slot.as_str()).map(|v| (*v).to_owned()),
                })
                .collect();
            Some(start_bench(catalog, &rig.value, specs, settings.seed).await?)
        }
        None => None,
    };
    let mut jobs = Vec::new();
    let mut machines = Vec::new();
    for (plan, unit, profile, _) in bound {
        let mut devices = match &rig.value.qemu {
            // Each slot of a QEMU rig is a board of its own.
            Some(qemu) => {
                let (machine, devices) = crate::qemu_rig::start(qemu, &plan, &profile)
                    .await
                    .map_err(|e| (exit_code::INFRASTRUCTURE, e))?;
                machines.push(machine);
                devices
            }
            None => {
                let endpoints = bench.as_ref().and_then(|b| b.slot(&plan.slot));
                crate::backends::open(&plan, endpoints)
                    .await
                    .map_err(|e| (exit_code::INFRASTRUCTURE, e.to_string()))?
            }
        };
        let answers: Vec<rigor_runner::devices::Answer> = args
            .answers
            .iter()
            .filter_map(|a| a.split_once('='))
            .filter(|(slot, _)| *slot == plan.slot)
            .map(|(_, text)| rigor_runner::devices::Answer::Text(text.to_owned()))
            .collect();
        devices.operator = Some(std::sync::Arc::new(
            rigor_runner::devices::ScriptedOperator::new(answers),
        ));
        let request = RunRequest {
            plan,
            unit,
            operator: args.operator.clone(),
            infrastructure_retries: rig.value.defaults.infrastructure_retries,
        };
        jobs.push(SlotJob { request, devices });
    }
    Ok((
        jobs,
        Simulators {
            _bench: bench,
            _machines: machines,
        },
    ))
}

/// What stands behind a rig's `virtual` channels: held, never read, until every run is over
/// (dropping them stops the bench and kills the QEMU boards).
pub(crate) struct Simulators {
    _bench: Option<rigor_bench::Bench>,
    _machines: Vec<std::sync::Arc<rigor_qemu::QemuMachine>>,
}

/// Starts the virtual bench for `rig` with these units.
pub(crate) async fn start_bench(
    catalog: &Catalog,
    rig: &rigor_model::rig::Rig,
    units: Vec<rigor_bench::UnitSpec>,
    seed: u64,
) -> Result<rigor_bench::Bench, (i32, String)> {
    let models = catalog
        .instruments
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    rigor_bench::Bench::start(rig, &models, units, seed)
        .await
        .map_err(|e| {
            (
                exit_code::INFRASTRUCTURE,
                format!("the virtual bench did not start: {e}"),
            )
        })
}

/// `--unit SERIAL` for one slot, or `--unit SLOT=SERIAL` for several.
fn unit_serials(given: &[String], slots: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for g in given {
        match g.split_once('=') {
            Some((slot, serial)) => {
                out.insert(slot.to_owned(), serial.to_owned());
            }
            None if slots.len() == 1 => {
                out.insert(slots[0].clone(), g.clone());
            }
            None => {
                return Err(format!(
                    "`--unit {g}` with several slots: write `--unit SLOT={g}`"
                ));
            }
        }
    }
    Ok(out)
}

/// The profile and fixture for a slot: the given profile, or the one generation a fixture of the
/// slot's kind fits.
fn choose<'c>(
    catalog: &'c Catalog,
    profile: Option<&str>,
    kind: &str,
    slot: &str,
) -> Result<
    (
        &'c rigor_model::catalog::ProfileEntry,
        &'c rigor_model::catalog::Entry<rigor_model::fixture::Fixture>,
    ),
    String,
> {
    let fixtures: Vec<_> = catalog
        .fixtures
        .values()
        .filter(|f| f.value.slot_kind == kind)
        .collect();
    let fits = |p: &rigor_model::catalog::ProfileEntry,
                f: &rigor_model::catalog::Entry<rigor_model::fixture::Fixture>| {
        f.value.fits.family == p.family()
            && f.value.fits.generations.iter().any(|g| g == p.generation())
    };
    match profile {
        Some(id) => {
            let p = catalog
                .profiles
                .get(id)
                .ok_or_else(|| format!("no device profile `{id}`"))?;
            let f = fixtures
                .into_iter()
                .find(|f| fits(p, f))
                .ok_or_else(|| format!("no fixture for `{kind}` slots fits {id}"))?;
            Ok((p, f))
        }
        None => {
            let pairs: Vec<_> = catalog
                .profiles
                .values()
                .flat_map(|p| {
                    fixtures
                        .iter()
                        .filter(move |f| fits(p, f))
                        .map(move |f| (p, *f))
                })
                .collect();
            match pairs.as_slice() {
                [one] => Ok(*one),
                [] => Err(format!("no fixture fits slot `{slot}` ({kind})")),
                _ => Err(format!(
                    "slot `{slot}` takes several generations; say which with `--profile`"
                )),
            }
        }
    }
}
