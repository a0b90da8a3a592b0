//! The QEMU rig's demo: the fixture firmware (`fixtures/qemu-fridge-fw`) built for the emulated
//! board in two versions, signed with the profile's demo release key, then `qemu-reflash` on a
//! blank lm3s6965evb: flash 1.0.0 over GDB remote, check the banner, the temperature sensor and
//! the door, reflash 2.0.0. Everything a new user would otherwise have to find in the sources
//! (image names, the build variable, the signing key, the target) is here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rigor_model::Catalog;
use rigor_model::value::Scalar;
use rigor_runner::event::{RunOutcome, Subscriber};

use crate::demo::{DemoError, DemoFiles};
use crate::{SlotSpec, Station, plan_slots};

/// The rig, scenario and unit of the QEMU demo.
pub const RIG: &str = "qemu";
const SCENARIO: &str = "qemu-reflash";
const UNIT: &str = "QF-000001";
/// The versions `qemu-reflash` flashes (its `first` and `update` parameters).
const VERSIONS: [&str; 2] = ["1.0.0", "2.0.0"];

/// Builds and signs the firmware into `dir`, as the scenario names it
/// (`qemu-fridge-fw-<version>.elf` with its manifest).
fn build_firmware(dir: &Path) -> Result<(), DemoError> {
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| DemoError::Firmware {
        dir: dir.to_owned(),
        source: e,
    };
    let key = rigor_bench::firmware::demo_release_key("lm3s6965")
        .ok_or_else(|| fail("no demo release key for lm3s6965".into()))?;
    for version in VERSIONS {
        let elf = rigor_qemu::firmware::build(&dir.join("target"), version, false)
            .map_err(|e| fail(Box::new(e)))?;
        let image = dir.join(format!("qemu-fridge-fw-{version}.elf"));
        std::fs::copy(&elf, &image).map_err(|e| fail(Box::new(e)))?;
        let parsed = version.parse().map_err(|e| fail(Box::new(e)))?;
        rigor_image::sign_file(&image, &key, "qemu-fridge", "lm3s6965", &parsed)
            .map_err(|e| fail(Box::new(e)))?;
    }
    Ok(())
}

/// Runs the QEMU demo; `Ok(true)` if the unit passed.
pub async fn run(
    catalog: &Catalog,
    files: &DemoFiles,
    out: &mut dyn Write,
) -> Result<bool, DemoError> {
    let print =
        |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(DemoError::Output);
    print(
        out,
        format!(
            "rigor demo --rig qemu: building fixtures/qemu-fridge-fw {} for thumbv7m-none-eabi",
            VERSIONS.join(" and ")
        ),
    )?;
    build_firmware(&files.firmware)?;
    let params: BTreeMap<String, Scalar> = [(
        "build_dir".to_owned(),
        Scalar::Text(files.firmware.display().to_string()),
    )]
    .into();
    let slots: Vec<SlotSpec> = crate::rig(catalog, RIG)?
        .value
        .slots
        .keys()
        .map(|slot| SlotSpec::new(slot.clone()).unit(UNIT))
        .collect();
    let plans = plan_slots(catalog, RIG, SCENARIO, &slots, &params)?;
    let station = Station::for_plans(catalog, RIG, &plans, &Default::default()).await?;
    let mut jobs = Vec::new();
    for plan in plans {
        jobs.push(station.open(plan, Some("demo")).await?);
    }
    print(
        out,
        format!("== {SCENARIO} on a blank lm3s6965evb, unit {UNIT}"),
    )?;
    let subscribers: Vec<Box<dyn Subscriber>> = vec![
        Box::new(rigor_report::Progress::new()),
        Box::new(rigor_report::JunitWriter::new(&files.junit)),
    ];
    let outcomes = crate::demo::run_recorded(&station, jobs, &files.store, subscribers).await?;
    let mut passed = true;
    for o in &outcomes {
        match &o.result {
            Ok(r) => {
                passed &= r.outcome == RunOutcome::Pass;
                let why = r
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                print(
                    out,
                    format!(
                        "{UNIT} {SCENARIO} attempt {}: {}{why}",
                        r.attempt, r.outcome
                    ),
                )?;
            }
            Err(e) => {
                passed = false;
                print(out, format!("slot `{}`: {e}", o.slot))?;
            }
        }
    }
    print(
        out,
        format!(
            "wrote: {}, {}, {}/",
            files.store.display(),
            files.junit.display(),
            files.firmware.display()
        ),
    )?;
    Ok(passed)
}
