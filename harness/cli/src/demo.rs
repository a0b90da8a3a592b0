//! `rigor demo`: the README's main job. Four simulated units of all three generations on the
//! virtual bench (one on a build with a real bug, one with a stuck pin): the smoke scenario on all
//! slots at once, then provisioning on the units that have an EEPROM (the operator's label scan
//! answered from a script), every unit recorded in the store, a JUnit file, and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rigor_model::value::Scalar;
use rigor_plan::Target;
use rigor_runner::devices::{Answer, ScriptedOperator};
use rigor_runner::engine::{RunRequest, Sinks};
use rigor_runner::event::{Event, RunOutcome, Subscriber};
use rigor_runner::station::SlotJob;

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

/// A unit of the demo (and of `rigor sim`).
pub(crate) struct DemoUnit {
    pub(crate) slot: &'static str,
    pub(crate) serial: &'static str,
    pub(crate) profile: &'static str,
    pub(crate) version: &'static str,
    pub(crate) faults: &'static [rigor_bench::Fault],
    note: &'static str,
}

/// The demo's units: three generations, one on the buggy build, one with a stuck pin.
pub(crate) const UNITS: [DemoUnit; 4] = [
    DemoUnit {
        slot: "slot1",
        serial: "FC1-000101",
        profile: "fridge-ctl-gen1",
        version: "1.4.2",
        faults: &[],
        note: "good build",
    },
    DemoUnit {
        slot: "slot2",
        serial: "FC2-000201",
        profile: "fridge-ctl-gen2",
        version: "2.1.1",
        faults: &[],
        note: "build 2.1.1: sensor scaling bug",
    },
    DemoUnit {
        slot: "slot3",
        serial: "FC3-000301",
        profile: "fridge-ctl-gen3",
        version: "3.0.2",
        faults: &[],
        note: "good build",
    },
    DemoUnit {
        slot: "slot4",
        serial: "FC2-000202",
        profile: "fridge-ctl-gen2",
        version: "2.1.0",
        faults: &[rigor_bench::Fault::StuckPin],
        note: "good build, alarm LED pin stuck low",
    },
];

/// What a run of a unit came to: its attempt, outcome and failures as people read them.
type UnitResult = (u32, Option<RunOutcome>, Vec<String>);

/// Collects what the summary shows, by slot; each phase starts a new collection.
#[derive(Default, Clone)]
struct Summary(Arc<Mutex<BTreeMap<String, UnitResult>>>);

impl Subscriber for Summary {
    fn on_event(&mut self, event: &Event) {
        let mut s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::RunStarted { run } => {
                s.insert(run.slot.clone(), (run.attempt, None, Vec::new()));
            }
            Event::Measured { slot, judged, .. } if !judged.verdict.passed() => {
                if let Some(e) = s.get_mut(slot) {
                    e.2.push(judged.describe());
                }
            }
            Event::RunFinished {
                run,
                outcome,
                message,
                ..
            } => {
                if let Some(e) = s.get_mut(&run.slot) {
                    e.1 = Some(*outcome);
                    if e.2.is_empty()
                        && let Some(m) = message
                    {
                        e.2.push(m.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// A demo unit's profile, and the fixture of its slot's kind that fits its generation.
pub(crate) fn profile_and_fixture<'c>(
    catalog: &'c rigor_model::Catalog,
    rig: &rigor_model::catalog::Entry<rigor_model::rig::Rig>,
    u: &DemoUnit,
) -> Result<
    (
        &'c rigor_model::catalog::ProfileEntry,
        &'c rigor_model::catalog::Entry<rigor_model::fixture::Fixture>,
    ),
    (i32, String),
> {
    let fail = |m: String| (exit_code::INVALID_INPUT, m);
    let profile = catalog
        .profiles
        .get(u.profile)
        .ok_or_else(|| fail(format!("no profile `{}`", u.profile)))?;
    let slot = rig
        .value
        .slots
        .get(u.slot)
        .ok_or_else(|| fail(format!("no slot `{}`", u.slot)))?;
    let fixture = catalog
        .fixtures
        .values()
        .find(|f| {
            f.value.slot_kind == slot.kind
                && f.value
                    .fits
                    .generations
                    .iter()
                    .any(|g| g == profile.generation())
        })
        .ok_or_else(|| fail(format!("no fixture for {}", u.profile)))?;
    Ok((profile, fixture))
}

/// Runs the demo and returns the exit code.
pub async fn run(args: DemoArgs) -> i32 {
    let paths = crate::check::paths_or_default(&[]);
    let (catalog, diags) = rigor_model::load_paths(&paths);
    if !diags.is_empty() {
        eprint!("{diags}");
        return exit_code::INVALID_INPUT;
    }
    match demo(&catalog, &args).await {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

/// The scenarios the demo runs, in order.
const SCENARIOS: [&str; 3] = ["smoke", "provisioning", "network-resilience"];

async fn demo(catalog: &rigor_model::Catalog, args: &DemoArgs) -> Result<i32, (i32, String)> {
    let fail = |m: String| (exit_code::INVALID_INPUT, m);
    let rig = catalog
        .rigs
        .get("virtual-bench")
        .ok_or_else(|| fail("the shipped rig `virtual-bench` is missing".into()))?;
    let mut units = Vec::new();
    let mut specs = Vec::new();
    for u in &UNITS {
        let (profile, fixture) = profile_and_fixture(catalog, rig, u)?;
        // Each slot gets its own build folder: slot2's holds the buggy build.
        let dir = args.firmware.join(u.slot);
        // Signed with the demo's release key where the generation requires signed images.
        rigor_bench::firmware::write_build(&dir, profile.family(), profile.generation(), u.version)
            .map_err(|e| {
                (
                    exit_code::INFRASTRUCTURE,
                    format!("cannot write the demo firmware into {}: {e}", dir.display()),
                )
            })?;
        specs.push(rigor_bench::UnitSpec {
            slot: u.slot.to_owned(),
            serial: u.serial.to_owned(),
            profile: profile.value.clone(),
            fixture: fixture.value.clone(),
            faults: u.faults.to_vec(),
            installed: None,
        });
        units.push((u, profile, fixture, dir));
    }
    let seed = rig.value.virtual_bench.as_ref().map_or(0, |b| b.seed);
    let bench = crate::run::start_bench(catalog, &rig.value, specs, seed).await?;
    println!(
        "rigor demo: {} units of 3 generations on the virtual bench\n",
        UNITS.len()
    );
    let mut table = Vec::new();
    let mut broken = false;
    for name in SCENARIOS {
        let scenario = catalog
            .scenarios
            .get(name)
            .ok_or_else(|| fail(format!("the shipped scenario `{name}` is missing")))?;
        let mut jobs = Vec::new();
        for (u, profile, fixture, dir) in &units {
            if rigor_plan::matrix::skip_reason(scenario, profile).is_some() {
                continue;
            }
            let mut params = BTreeMap::new();
            if scenario.value.parameters.contains_key("build_dir") {
                params.insert(
                    "build_dir".to_owned(),
                    Scalar::Text(dir.display().to_string()),
                );
            }
            let plan = rigor_plan::bind(
                catalog,
                Target {
                    scenario,
                    profile,
                    fixture,
                    rig,
                    slot: u.slot,
                },
                &params,
            )
            .map_err(|d| fail(d.to_string()))?;
            let mut devices = crate::backends::open(&plan, bench.slot(&plan.slot))
                .await
                .map_err(|e| (exit_code::INFRASTRUCTURE, e.to_string()))?;
            // The operator scans the unit's label: here, a script answers with the serial printed on it.
            devices.operator = Some(Arc::new(ScriptedOperator::new([Answer::Text(
                u.serial.to_owned(),
            )])));
            let retries = rig.value.defaults.infrastructure_retries;
            let request = RunRequest {
                plan,
                unit: Some(u.serial.to_owned()),
                operator: Some("demo".into()),
                infrastructure_retries: retries,
            };
            jobs.push(SlotJob { request, devices });
        }
        println!(
            "== {name} v{} on {} units",
            scenario.value.version,
            jobs.len()
        );
        let store = rigor_store::Store::open(&args.store).map_err(|e| {
            (
                exit_code::INFRASTRUCTURE,
                format!("cannot open the store {}: {e}", args.store.display()),
            )
        })?;
        let summary = Summary::default();
        let junit = args.junit.with_file_name(format!(
            "{}.{name}.xml",
            args.junit
                .file_stem()
                .map_or_else(|| "rigor-demo".into(), |s| s.to_string_lossy().into_owned())
        ));
        let junit = if name == SCENARIOS[0] {
            args.junit.clone()
        } else {
            junit
        };
        let subscribers: Vec<Box<dyn Subscriber>> = vec![
            Box::new(crate::progress::Progress::new()),
            Box::new(rigor_report::JunitWriter::new(&junit)),
            Box::new(summary.clone()),
        ];
        let sinks = Sinks::new(
            Box::new(crate::record::StoreRecorder::new(store)),
            subscribers,
        );
        let results = crate::run::execute(jobs, sinks).await;
        // Units fail on purpose; the demo itself failed only if the rig broke or a run was cut short.
        broken |= results
            .iter()
            .any(|(_, r)| !matches!(r, Ok(r) if matches!(r.outcome, RunOutcome::Pass | RunOutcome::Fail)));
        let runs = summary
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        table.push((name, runs));
        println!();
    }
    drop(bench);
    println!(
        "unit        slot   generation  firmware  {:<18} attempt  result",
        "scenario"
    );
    let mut first_pass = (0, 0);
    for u in &UNITS {
        let mut all_passed = true;
        let mut first = true;
        for (name, runs) in &table {
            let Some((attempt, outcome, problems)) = runs.get(u.slot) else {
                continue;
            };
            let verdict = outcome.map_or("?".to_owned(), |o| format!("{o:?}").to_uppercase());
            let (unit, slot, generation, version) = if first {
                (u.serial, u.slot, &u.profile[11..], u.version)
            } else {
                ("", "", "", "")
            };
            let note = if first {
                format!("  ({})", u.note)
            } else {
                String::new()
            };
            println!(
                "{unit:<11} {slot:<6} {generation:<11} {version:<9} {name:<18} {attempt:<8} {verdict}{note}"
            );
            for p in problems {
                println!("{:>42}{p}", "");
            }
            all_passed &= *attempt == 1 && *outcome == Some(RunOutcome::Pass);
            first = false;
        }
        first_pass.1 += 1;
        first_pass.0 += usize::from(all_passed);
    }
    println!(
        "\nfirst-pass yield: {}/{} units passed every scenario at their first attempt",
        first_pass.0, first_pass.1
    );
    println!(
        "recorded in {} (every run, attempt and measurement); JUnit in {}",
        args.store.display(),
        args.junit.display()
    );
    Ok(if broken {
        exit_code::INFRASTRUCTURE
    } else {
        exit_code::SUCCESS
    })
}
