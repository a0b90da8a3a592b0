//! The demo: four simulated units of all three generations on the virtual bench (one on a build
//! with a real bug, one with a stuck pin): the smoke scenario on all slots at once, then
//! provisioning and network resilience on the units that can run them (the operator's label scan
//! answered from a script), then `gateway-sensors`, several devices in one scenario (a gateway
//! and two of the units with an uplink), every unit recorded in the store, a JUnit file per
//! scenario, and a summary whose first-pass yield is read back from the store.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rigor_bench::{Fault, UnitSpec};
use rigor_model::Catalog;
use rigor_model::value::Scalar;
use rigor_runner::event::{Event, RunOutcome, Subscriber};

use crate::{SlotSpec, Station, StationError};

/// A unit of the demo (and of `rigor sim`).
#[derive(Debug, Clone, Copy)]
pub struct DemoUnit {
    /// Its slot on the virtual bench.
    pub slot: &'static str,
    /// Its serial number.
    pub serial: &'static str,
    /// Its device profile.
    pub profile: &'static str,
    /// The firmware version it is built with.
    pub version: &'static str,
    /// What is wrong with it.
    pub faults: &'static [Fault],
    /// What to expect of it, for people.
    pub note: &'static str,
}

/// The demo's units: three generations, one on the buggy build, one with a stuck pin.
pub const UNITS: [DemoUnit; 4] = [
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
        faults: &[Fault::StuckPin],
        note: "good build, alarm LED pin stuck low",
    },
];

/// The gateway the units with an uplink report to, in its own slot; it comes with its firmware.
pub const GATEWAY: DemoUnit = DemoUnit {
    slot: "gw1",
    serial: "GW1-000501",
    profile: "fridge-gw-gen1",
    version: "1.0.0",
    faults: &[],
    note: "gateway, good build",
};

/// The multi-device scenario the demo runs last, and the slots its roles are placed among:
/// the gateway and the two units with an uplink and a good sensor build.
pub const MULTI: (&str, [&str; 3]) = ("gateway-sensors", ["gw1", "slot3", "slot4"]);

/// The rig the demo runs on.
pub const RIG: &str = "virtual-bench";

/// The scenarios the demo runs, in order.
pub const SCENARIOS: [&str; 3] = ["smoke", "provisioning", "network-resilience"];

/// Where the demo writes.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    /// The store.
    pub store: PathBuf,
    /// The first scenario's JUnit file; the others go beside it, named after their scenario.
    pub junit: PathBuf,
    /// The firmware builds, a folder per slot.
    pub firmware: PathBuf,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The station could not prepare or record a run.
    #[error(transparent)]
    Station(#[from] StationError),
    /// A demo build could not be written.
    #[error("cannot write the demo firmware into {}", dir.display())]
    Firmware {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store could not be read back for the summary.
    #[error("cannot read the store back")]
    ReadBack(#[source] rigor_store::StoreError),
    /// The summary could not be printed.
    #[error("cannot print the summary")]
    Output(#[source] std::io::Error),
}

/// What a run of a unit came to: its attempt, outcome and failures as people read them.
type UnitResult = (u32, Option<RunOutcome>, Vec<String>);

/// Collects what the summary shows, by slot.
#[derive(Default, Clone)]
struct Summary(Arc<Mutex<BTreeMap<String, UnitResult>>>);

impl Summary {
    fn take(&self) -> BTreeMap<String, UnitResult> {
        std::mem::take(
            &mut self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

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

/// The bench's units as the demo builds them.
pub fn bench_units(catalog: &Catalog) -> Result<Vec<UnitSpec>, StationError> {
    let rig = crate::select::rig(catalog, RIG)?;
    UNITS
        .iter()
        .chain([&GATEWAY])
        .map(|u| {
            let kind = rig.value.slots.get(u.slot).map_or("", |s| s.kind.as_str());
            let (profile, fixture) = crate::select::choose(catalog, Some(u.profile), kind, u.slot)?;
            Ok(UnitSpec {
                slot: u.slot.to_owned(),
                serial: u.serial.to_owned(),
                profile: profile.value.clone(),
                fixture: fixture.value.clone(),
                faults: u.faults.to_vec(),
                // The gateway arrives with its firmware; the controllers are flashed by smoke.
                installed: (u.slot == GATEWAY.slot).then(|| u.version.to_owned()),
            })
        })
        .collect()
}

/// Whether `scenario` takes the folder of builds to flash.
fn declares_build_dir(catalog: &Catalog, scenario: &str) -> bool {
    catalog
        .scenarios
        .get(scenario)
        .is_some_and(|s| s.value.parameters.contains_key("build_dir"))
}

/// The JUnit file of `scenario`: the first scenario's is `junit` itself.
fn junit_file(junit: &Path, scenario: &str) -> PathBuf {
    if scenario == SCENARIOS[0] {
        return junit.to_owned();
    }
    let stem = junit
        .file_stem()
        .map_or_else(|| "rigor-demo".into(), |s| s.to_string_lossy().into_owned());
    junit.with_file_name(format!("{stem}.{scenario}.xml"))
}

/// Runs the demo, printing progress and the summary on `out`. `Ok(true)` if every run came to
/// a verdict (units fail on purpose); `Ok(false)` if the rig broke or a run was cut short.
pub async fn run(
    catalog: &Catalog,
    files: &DemoFiles,
    out: &mut dyn Write,
) -> Result<bool, DemoError> {
    let mut units = bench_units(catalog)?;
    for (spec, u) in units.iter_mut().zip(&UNITS) {
        let dir = files.firmware.join(u.slot);
        // Signed with the demo's release key where the generation requires signed images.
        let family = spec.profile.family.as_deref().unwrap_or_default();
        let generation = spec.profile.generation.as_deref().unwrap_or_default();
        rigor_bench::firmware::write_build(&dir, family, generation, u.version)
            .and_then(|_| {
                // The images `ota-update` offers, next to the build.
                rigor_bench::firmware::write_ota_builds(&dir, family, generation, u.version)
            })
            .map_err(|e| DemoError::Firmware {
                dir: dir.clone(),
                source: Box::new(e),
            })?;
    }
    let station = Station::start(catalog, RIG, units).await?;
    let print =
        |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(DemoError::Output);
    print(
        out,
        format!(
            "rigor demo: {} units of 3 generations and a gateway on the virtual bench\n",
            UNITS.len()
        ),
    )?;
    let mut table = Vec::new();
    let mut broken = false;
    for name in SCENARIOS {
        let mut jobs = Vec::new();
        for u in UNITS
            .iter()
            .filter(|u| crate::applies(catalog, name, u.profile))
        {
            let mut params = BTreeMap::new();
            if declares_build_dir(catalog, name) {
                let build_dir = files.firmware.join(u.slot).display().to_string();
                params.insert("build_dir".to_owned(), Scalar::Text(build_dir));
            }
            // The operator scans the unit's label: here, a script answers with the serial on it.
            let mut spec = SlotSpec::new(u.slot).profile(u.profile).unit(u.serial);
            spec.answers = vec![u.serial.to_owned()];
            for plan in crate::plan_slots(catalog, RIG, name, &[spec], &params)? {
                jobs.push(station.open(plan, Some("demo")).await?);
            }
        }
        let version = catalog.scenarios.get(name).map_or(0, |s| s.value.version);
        print(out, format!("== {name} v{version} on {} units", jobs.len()))?;
        broken |= run_scenario(&station, name, jobs, files, &mut table).await?;
        print(out, String::new())?;
    }
    let (name, slots) = MULTI;
    let specs: Vec<SlotSpec> = UNITS
        .iter()
        .chain([&GATEWAY])
        .filter(|u| slots.contains(&u.slot))
        .map(|u| SlotSpec::new(u.slot).profile(u.profile).unit(u.serial))
        .collect();
    let mut jobs = Vec::new();
    for plan in crate::plan_session(catalog, RIG, name, &specs, &BTreeMap::new())? {
        jobs.push(station.open(plan, Some("demo")).await?);
    }
    let version = catalog.scenarios.get(name).map_or(0, |s| s.value.version);
    print(
        out,
        format!("== {name} v{version}: {} units in one session", jobs.len()),
    )?;
    broken |= run_scenario(&station, name, jobs, files, &mut table).await?;
    print(out, String::new())?;
    drop(station);
    let text = summary_table(&table);
    let (passed, tested_before) = first_pass_from_store(catalog, &files.store)?;
    print(out, text)?;
    if tested_before {
        print(
            out,
            "these units were tested before: their attempt-1 records decide the first-pass yield"
                .to_owned(),
        )?;
    }
    print(
        out,
        format!(
            "first-pass yield: {passed}/{} units passed every scenario at their first attempt",
            UNITS.len()
        ),
    )?;
    let mut written = vec![files.store.display().to_string()];
    written.extend(
        SCENARIOS
            .iter()
            .chain([&MULTI.0])
            .map(|s| junit_file(&files.junit, s).display().to_string()),
    );
    written.push(format!("{}/", files.firmware.display()));
    print(
        out,
        format!(
            "recorded in {} (every run, attempt and measurement); JUnit in {}\nwrote: {}",
            files.store.display(),
            files.junit.display(),
            written.join(", ")
        ),
    )?;
    Ok(!broken)
}

/// Runs `jobs` on `station`, recorded into `store` and shown to `subscribers`; Ctrl-C tears
/// down and records the runs as aborted; a subscriber's trouble is reported, not fatal.
pub(crate) async fn run_recorded(
    station: &Station,
    jobs: Vec<crate::SlotJob>,
    store: &Path,
    subscribers: Vec<Box<dyn Subscriber>>,
) -> Result<Vec<crate::SlotOutcome>, StationError> {
    let sinks = crate::record_into(store, subscribers)?;
    let cancel = crate::cancel_on_signals(|| {
        eprintln!("interrupted: tearing down, then recording the runs as aborted")
    });
    let outcomes = station.run(jobs, &sinks, cancel).await;
    for e in sinks.finish().await {
        eprintln!("error: {e}");
    }
    Ok(outcomes)
}

/// Runs one scenario's jobs, recorded, with progress, its JUnit file and the summary's rows;
/// `true` if the demo itself broke: the rig failed or a run was cut short (units fail on
/// purpose).
async fn run_scenario(
    station: &Station,
    name: &'static str,
    jobs: Vec<crate::SlotJob>,
    files: &DemoFiles,
    table: &mut Vec<(&'static str, BTreeMap<String, UnitResult>)>,
) -> Result<bool, DemoError> {
    let summary = Summary::default();
    let subscribers: Vec<Box<dyn Subscriber>> = vec![
        Box::new(rigor_report::Progress::new()),
        Box::new(rigor_report::JunitWriter::new(junit_file(
            &files.junit,
            name,
        ))),
        Box::new(summary.clone()),
    ];
    let results = run_recorded(station, jobs, &files.store, subscribers).await?;
    for r in &results {
        if let Err(e) = &r.result {
            eprintln!("error: slot `{}`: {e}", r.slot);
        }
    }
    table.push((name, summary.take()));
    Ok(results.iter().any(
        |r| !matches!(&r.result, Ok(r) if matches!(r.outcome, RunOutcome::Pass | RunOutcome::Fail)),
    ))
}

/// The table of units × scenarios as people read it.
fn summary_table(table: &[(&str, BTreeMap<String, UnitResult>)]) -> String {
    let mut text = format!(
        "unit        slot   generation  firmware  {:<18} attempt  result\n",
        "scenario"
    );
    for u in UNITS.iter().chain([&GATEWAY]) {
        let mut first = true;
        for (name, runs) in table {
            let Some((attempt, outcome, problems)) = runs.get(u.slot) else {
                continue;
            };
            let verdict = outcome.map_or("?".to_owned(), |o| o.to_string());
            let generation = u.profile.rsplit('-').next().unwrap_or(u.profile);
            let (unit, slot, generation, version, note) = if first {
                (
                    u.serial,
                    u.slot,
                    generation,
                    u.version,
                    format!("  ({})", u.note),
                )
            } else {
                ("", "", "", "", String::new())
            };
            text.push_str(&format!(
                "{unit:<11} {slot:<6} {generation:<11} {version:<9} {name:<18} {attempt:<8} {verdict}{note}\n"
            ));
            for p in problems {
                text.push_str(&format!("{:>42}{p}\n", ""));
            }
            first = false;
        }
    }
    text
}

/// How many demo units passed every scenario they run at their first attempt, as the store
/// recorded it (a second demo run is attempt 2 and does not change that), and whether any unit
/// was tested before this run.
fn first_pass_from_store(catalog: &Catalog, store: &Path) -> Result<(usize, bool), DemoError> {
    let store = rigor_store::Store::open(store).map_err(DemoError::ReadBack)?;
    let mut passed = 0;
    let mut tested_before = false;
    for u in &UNITS {
        let runs = store.runs_of_unit(u.serial).map_err(DemoError::ReadBack)?;
        tested_before |= runs.iter().any(|r| r.attempt > 1);
        let multi = MULTI.1.contains(&u.slot).then_some(&MULTI.0);
        let all = SCENARIOS
            .iter()
            .filter(|s| crate::applies(catalog, s, u.profile))
            .chain(multi)
            .all(|s| {
                runs.iter().any(|r| {
                    r.scenario_name == *s
                        && r.attempt == 1
                        && r.status == rigor_store::RunStatus::Pass
                })
            });
        passed += usize::from(all);
    }
    Ok((passed, tested_before))
}
