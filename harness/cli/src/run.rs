//! `rigor run`: the arguments of a run, handed to the station library.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rigor_station::{RequestError, SlotSpec, Station, StationError, Subscriber};

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
    /// `text`: progress lines; `json`: every event as a JSON line instead.
    #[arg(long, value_enum, default_value = "text")]
    pub format: crate::check::Format,
    /// What goes into each slot's run.
    #[command(flatten)]
    pub inputs: crate::inputs::RunInputs,
    /// Where the slot locks are (default: `/run/lock/rigor` for a real rig, one folder per host;
    /// a simulated rig's units belong to the one process).
    #[arg(long, value_name = "DIR")]
    pub lock_dir: Option<PathBuf>,
    /// Fsync every commit of the store, so what was recorded survives power loss (by default a
    /// record survives rigor being killed, and the last moments before an OS crash may be lost).
    #[arg(long)]
    pub power_loss_safe: bool,
    /// Shared rig leases.
    #[command(flatten)]
    pub lease: crate::lease::LeaseArgs,
    /// Use a lease acquired earlier (`rigor lease acquire` in a CI job), `SLOT=TOKEN`; it is
    /// renewed while the run goes on and left for the job to release.
    #[arg(long = "lease-token", value_name = "SLOT=TOKEN")]
    pub lease_tokens: Vec<String>,
    /// Forwarding to a central store while the run goes on.
    #[command(flatten)]
    pub central: crate::central::CentralArgs,
    /// The rigor files.
    #[command(flatten)]
    pub tree: crate::check::Tree,
}

/// Runs and returns the exit code.
pub async fn run(args: RunArgs) -> i32 {
    let forwarding = match args.central.start(&args.inputs.store) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let code = match run_slots(&args).await {
        Ok(code) => code,
        Err(e) => exit_code::report(&e),
    };
    if let Some(forwarding) = forwarding {
        forwarding.finish().await;
    }
    code
}

async fn run_slots(args: &RunArgs) -> Result<i32, StationError> {
    let catalog = rigor_station::load(&args.tree.paths())?;
    let params = args.inputs.params();
    let slots = match slot_specs(&catalog, args) {
        Ok(slots) => slots,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(exit_code::USAGE);
        }
    };
    let bench = args.inputs.bench.units()?;
    let plans = rigor_station::plan_run(&catalog, &args.rig, &args.scenario, &slots, &params)?;
    // The store first: a station that cannot record starts nothing.
    let mut subscribers: Vec<Box<dyn Subscriber>> = Vec::new();
    match args.format {
        crate::check::Format::Json => {
            subscribers.push(Box::new(rigor_report::JsonLines::new(std::io::stdout())))
        }
        crate::check::Format::Text => subscribers.push(Box::new(rigor_report::Progress::new())),
    }
    if let Some(path) = &args.inputs.junit {
        subscribers.push(Box::new(rigor_report::JunitWriter::new(path)));
    }
    let durability = if args.power_loss_safe {
        rigor_store::Durability::PowerLoss
    } else {
        rigor_store::Durability::ProcessCrash
    };
    let (sinks, replayed) =
        rigor_station::open_recording(&args.inputs.store, durability, subscribers)?;
    if let Some(replayed) = replayed {
        let spill = rigor_store::spill::spill_path(&args.inputs.store);
        eprintln!("{}", replayed.summary(&spill));
    }
    let mut station = Station::for_plans(&catalog, &args.rig, &plans, &bench).await?;
    if let Some(dir) = &args.lock_dir {
        station = station.with_lock_dir(dir.clone());
    }
    // The slots' leases before any slot is touched.
    let leases = match args.lease.policy(lease_tokens(&args.lease_tokens)?) {
        Some(policy) => {
            let slots: Vec<String> = plans.iter().map(|p| p.plan.slot.clone()).collect();
            let holder = format!("rigor run {}", args.scenario);
            Some(rigor_station::rig_lease::hold(&policy, &args.rig, &slots, &holder).await?)
        }
        None => None,
    };
    let mut jobs = Vec::new();
    for plan in plans {
        let mut job = station.open(plan, args.inputs.operator.as_deref()).await?;
        job.request.gate = leases.as_ref().and_then(|l| l.gate(&job.request.plan.slot));
        jobs.push(job);
    }
    let cancel = rigor_station::cancel_on_signals(|| {
        eprintln!("interrupted: tearing down, then recording the runs as aborted")
    });
    let outcomes = station.run(jobs, &sinks, cancel).await;
    for e in sinks.finish().await {
        eprintln!("error: {e}");
    }
    if let Some(leases) = leases
        && let Err(e) = leases.release().await
    {
        // The leases expire on their own.
        eprintln!("warning: {}", exit_code::chain(&e));
    }
    Ok(outcomes
        .iter()
        .map(|o| exit_code::of_slot(&o.slot, &o.result))
        .fold(exit_code::SUCCESS, exit_code::worst))
}

/// The slots to run, with their units and scripted answers.
fn slot_specs(catalog: &rigor_model::Catalog, args: &RunArgs) -> Result<Vec<SlotSpec>, String> {
    let names: Vec<String> = if args.slots.is_empty() {
        rigor_station::slots_for(catalog, &args.rig, &args.scenario)
    } else {
        args.slots.clone()
    };
    let units = unit_serials(&args.units, &names)?;
    let mut answers = slot_answers(&args.inputs.answers, &names)?;
    Ok(names
        .iter()
        .map(|name| SlotSpec {
            slot: name.clone(),
            profile: args.profile.clone(),
            unit: units.get(name).cloned(),
            answers: answers.remove(name.as_str()).unwrap_or_default(),
        })
        .collect())
}

/// `--answer SLOT=TEXT`, in order, by slot.
fn slot_answers(
    given: &[String],
    names: &[String],
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in given {
        let (slot, text) = a
            .split_once('=')
            .ok_or_else(|| format!("`--answer {a}`: write SLOT=TEXT"))?;
        if !names.iter().any(|n| n == slot) {
            return Err(not_run("--answer", slot, names));
        }
        answers
            .entry(slot.to_owned())
            .or_default()
            .push(text.to_owned());
    }
    Ok(answers)
}

fn not_run(option: &str, slot: &str, names: &[String]) -> String {
    format!(
        "`{option}` names slot `{slot}`, which this run does not use (slots: {})",
        names.join(", ")
    )
}

/// `--lease-token SLOT=TOKEN`.
fn lease_tokens(given: &[String]) -> Result<Vec<(String, i64)>, StationError> {
    given
        .iter()
        .map(|g| {
            g.split_once('=')
                .and_then(|(slot, t)| Some((slot.to_owned(), t.parse().ok()?)))
                .ok_or_else(|| {
                    StationError::Request(RequestError::BadValue {
                        option: "--lease-token",
                        given: g.clone(),
                        expected: "SLOT=TOKEN, the token a number".to_owned(),
                    })
                })
        })
        .collect()
}

/// `--unit SERIAL` for one slot, or `--unit SLOT=SERIAL` for several.
fn unit_serials(given: &[String], slots: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for g in given {
        match g.split_once('=') {
            Some((slot, _)) if !slots.iter().any(|s| s == slot) => {
                return Err(not_run("--unit", slot, slots));
            }
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
