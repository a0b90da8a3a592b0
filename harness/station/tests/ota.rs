//! The shipped `ota-update` scenario on the virtual bench, run through the station library as
//! every front end runs it: good builds of both generations with an uplink pass every case, the
//! build whose update client commits before its health check is caught, and so is a unit that
//! bricks when its power is cut mid-write.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rigor_model::value::Scalar;
use rigor_runner::event::{Event, RunOutcome, Subscriber};
use rigor_station::{BenchUnits, SlotSpec, Station, plan_slots};

/// Every measurement by slot: `(name = value, limits; passed)`.
#[derive(Default, Clone)]
struct Verdicts(Arc<Mutex<BySlot>>);

type BySlot = BTreeMap<String, Vec<(String, bool)>>;

impl Subscriber for Verdicts {
    fn on_event(&mut self, event: &Event) {
        if let Event::Measured { slot, judged, .. } = event {
            self.0
                .lock()
                .unwrap()
                .entry(slot.clone())
                .or_default()
                .push((judged.describe(), judged.verdict.passed()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ota_update_passes_good_builds_of_every_uplink_generation_and_catches_both_bugs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let catalog = rigor_station::load(
        &["device-profiles", "rigs", "fixtures", "examples"].map(|d| root.join(d)),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let units = [
        ("slot1", "fridge-ctl-gen3", "FC3-000311", "3.0.2"),
        // Its update client commits before the health check.
        ("slot2", "fridge-ctl-gen3", "FC3-000312", "3.0.3"),
        ("slot3", "fridge-ctl-gen2", "FC2-000213", "2.1.0"),
        // A good build on a unit with the bricks-on-power-cut fault.
        ("slot4", "fridge-ctl-gen2", "FC2-000214", "2.1.0"),
    ];
    let mut plans = Vec::new();
    for (slot, profile, serial, version) in units {
        let build_dir = dir.path().join(slot);
        let generation = &catalog.profiles[profile].value.generation.clone().unwrap();
        rigor_bench::firmware::write_build(&build_dir, "fridge-ctl", generation, version).unwrap();
        rigor_bench::firmware::write_ota_builds(&build_dir, "fridge-ctl", generation, version)
            .unwrap();
        let params = BTreeMap::from([(
            "build_dir".to_owned(),
            Scalar::Text(build_dir.display().to_string()),
        )]);
        let spec = SlotSpec::new(slot).profile(profile).unit(serial);
        plans
            .extend(plan_slots(&catalog, "virtual-bench", "ota-update", &[spec], &params).unwrap());
    }
    let mut bench = BenchUnits::default();
    bench
        .faults
        .insert("slot4".into(), vec![rigor_bench::Fault::BricksOnPowerCut]);
    let station = Station::for_plans(&catalog, "virtual-bench", &plans, &bench)
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for plan in plans {
        jobs.push(station.open(plan, Some("test")).await.unwrap());
    }
    let verdicts = Verdicts::default();
    let sinks =
        rigor_station::record_into(dir.path().join("ota.db"), vec![Box::new(verdicts.clone())])
            .unwrap();
    let outcomes = station
        .run(jobs, &sinks, rigor_station::never_cancelled())
        .await;
    let verdicts = verdicts.0.lock().unwrap().clone();
    let failed = |slot: &str| -> Vec<String> {
        verdicts[slot]
            .iter()
            .filter(|(_, passed)| !passed)
            .map(|(described, _)| described.clone())
            .collect()
    };
    let bricked = outcomes.iter().find(|o| o.slot == "slot4").unwrap();
    let bricked = bricked.result.as_ref().unwrap();
    // The power cut mid-write bricks it: no banner ever comes back, and the run stops there,
    // with the three earlier cases measured.
    assert_eq!(bricked.outcome, RunOutcome::Fail);
    let message = bricked.message.as_deref().unwrap_or_default();
    assert!(message.contains("not seen within 5s"), "{message}");
    assert!(message.contains("bytes written"), "{message}");
    assert_eq!(verdicts["slot4"].len(), 7, "{:?}", verdicts["slot4"]);
    for o in outcomes.iter().filter(|o| o.slot != "slot4") {
        let result = o.result.as_ref().unwrap();
        let expected = if o.slot == "slot2" {
            RunOutcome::Fail
        } else {
            RunOutcome::Pass
        };
        assert_eq!(
            result.outcome,
            expected,
            "{}: {:?} (failed: {:?})",
            o.slot,
            result.message,
            failed(&o.slot)
        );
    }
    // Every case is measured on every unit, and the good builds pass them all.
    for o in outcomes.iter().filter(|o| o.slot != "slot4") {
        let slot = o.slot.as_str();
        let message = &o.result.as_ref().unwrap().message;
        assert_eq!(
            verdicts[slot].len(),
            13,
            "{slot}: {message:?} {:?}",
            verdicts[slot]
        );
    }
    assert_eq!(failed("slot1"), Vec::<String>::new());
    assert_eq!(failed("slot3"), Vec::<String>::new());
    // The buggy client is caught by the one case that shows its bug.
    let caught = failed("slot2");
    assert_eq!(caught.len(), 1, "{caught:?}");
    assert!(
        caught[0].starts_with("failed_health_check_slot = \"B\""),
        "{caught:?}"
    );
}
