//! `rigor demo`: the README's main job. Four simulated units of all three generations on the
//! virtual bench (one on a build with a real bug, one with a stuck pin), the smoke scenario on all
//! slots at once, every unit recorded in the store, a JUnit file, and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rigor_model::value::Scalar;
use rigor_plan::Target;
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

/// A unit of the demo.
struct DemoUnit {
    slot: &'static str,
    serial: &'static str,
    profile: &'static str,
    version: &'static str,
    faults: &'static [rigor_bench::Fault],
    note: &'static str,
}

const UNITS: [DemoUnit; 4] = [
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

/// Collects what the summary shows.
#[derive(Default, Clone)]
struct Summary(Arc<Mutex<BTreeMap<String, UnitResult>>>);

/// A slot's attempt number, outcome, and failures as people read them.
type UnitResult = (u32, Option<RunOutcome>, Vec<String>);

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

/// Runs the demo and returns the exit code.
pub async fn run(args: DemoArgs) -> i32 {
    let paths: Vec<PathBuf> = crate::check::DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
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

async fn demo(catalog: &rigor_model::Catalog, args: &DemoArgs) -> Result<i32, (i32, String)> {
    let fail = |m: String| (exit_code::INVALID_INPUT, m);
    let rig = catalog
        .rigs
        .get("virtual-bench")
        .ok_or_else(|| fail("the shipped rig `virtual-bench` is missing".into()))?;
    let scenario = catalog
        .scenarios
        .get("smoke")
        .ok_or_else(|| fail("the shipped scenario `smoke` is missing".into()))?;
    let mut bound = Vec::new();
    let mut specs = Vec::new();
    for u in &UNITS {
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
        // Each slot gets its own build folder: slot2's holds the buggy build.
        let dir = args.firmware.join(u.slot);
        let image =
            rigor_bench::firmware::build_image(profile.family(), profile.generation(), u.version);
        std::fs::create_dir_all(&dir)
            .and_then(|()| {
                std::fs::write(
                    dir.join(format!("fridge-ctl-{}.elf", profile.generation())),
                    image,
                )
            })
            .map_err(|e| {
                (
                    exit_code::INFRASTRUCTURE,
                    format!("cannot write the demo firmware into {}: {e}", dir.display()),
                )
            })?;
        let params = BTreeMap::from([(
            "build_dir".to_owned(),
            Scalar::Text(dir.display().to_string()),
        )]);
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
        specs.push(rigor_bench::UnitSpec {
            slot: u.slot.to_owned(),
            serial: u.serial.to_owned(),
            profile: profile.value.clone(),
            fixture: fixture.value.clone(),
            faults: u.faults.to_vec(),
        });
        bound.push((plan, u.serial.to_owned()));
    }
    let seed = rig.value.virtual_bench.as_ref().map_or(0, |b| b.seed);
    let bench = crate::run::start_bench(catalog, &rig.value, specs, seed).await?;
    let mut jobs = Vec::new();
    for (plan, unit) in bound {
        let devices = crate::backends::open(&plan, bench.slot(&plan.slot))
            .await
            .map_err(|e| (exit_code::INFRASTRUCTURE, e.to_string()))?;
        let retries = rig.value.defaults.infrastructure_retries;
        jobs.push(SlotJob {
            request: RunRequest {
                plan,
                unit,
                operator: Some("demo".into()),
                infrastructure_retries: retries,
            },
            devices,
        });
    }
    let store = rigor_store::Store::open(&args.store).map_err(|e| {
        (
            exit_code::INFRASTRUCTURE,
            format!("cannot open the store {}: {e}", args.store.display()),
        )
    })?;
    let summary = Summary::default();
    let subscribers: Vec<Box<dyn Subscriber>> = vec![
        Box::new(crate::progress::Progress),
        Box::new(rigor_report::JunitWriter::new(&args.junit)),
        Box::new(summary.clone()),
    ];
    let sinks = Sinks::new(
        Box::new(crate::record::StoreRecorder::new(store)),
        subscribers,
    );
    println!(
        "rigor demo: {} units of 3 generations on the virtual bench, scenario smoke v{}\n",
        UNITS.len(),
        scenario.value.version
    );
    let results = crate::run::execute(jobs, sinks).await;
    drop(bench);
    let runs = summary
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    println!("\nunit        slot   generation  firmware  attempt  result");
    let mut first_pass = (0, 0);
    for u in &UNITS {
        let Some((attempt, outcome, problems)) = runs.get(u.slot) else {
            continue;
        };
        let verdict = outcome.map_or("?".to_owned(), |o| format!("{o:?}").to_uppercase());
        println!(
            "{:<11} {:<6} {:<11} {:<9} {:<8} {verdict}  ({})",
            u.serial,
            u.slot,
            &u.profile[11..],
            u.version,
            attempt,
            u.note
        );
        for p in problems {
            println!("{:>32}{p}", "");
        }
        if *attempt == 1 {
            first_pass.1 += 1;
            if *outcome == Some(RunOutcome::Pass) {
                first_pass.0 += 1;
            }
        }
    }
    if first_pass.1 > 0 {
        println!(
            "\nfirst-pass yield: {}/{} units",
            first_pass.0, first_pass.1
        );
    }
    println!(
        "recorded in {} (every run, attempt and measurement); JUnit in {}",
        args.store.display(),
        args.junit.display()
    );
    // Two units fail on purpose; the demo itself failed only if the rig broke or a run was cut short.
    let broken = results.iter().any(
        |(_, r)| !matches!(r, Ok(r) if matches!(r.outcome, RunOutcome::Pass | RunOutcome::Fail)),
    );
    Ok(if broken {
        exit_code::INFRASTRUCTURE
    } else {
        exit_code::SUCCESS
    })
}
