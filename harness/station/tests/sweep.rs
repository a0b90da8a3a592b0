//! A station's start removes the network faults a killed rigor left behind, whether or not its
//! own run opens a network link.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;

/// Regression (issue 14): a killed rigor's `netem:` leftovers were swept only when a later run
/// opened a network link, so a run without one left the last run's delay on the interface.
#[tokio::test]
async fn a_start_removes_what_a_killed_rigor_left_impairing() {
    // The record a `netem:` point keeps while it impairs an interface, owned by a process that
    // is gone (no pid is this large).
    let records = Path::new("/run/rigor-netfault");
    std::fs::create_dir_all(records).unwrap();
    let record = records.join("rgt-sweep-test");
    std::fs::write(&record, "4294967295-1\n\n").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let catalog = rigor_station::load(
        &["device-profiles", "rigs", "fixtures", "examples"].map(|d| root.join(d)),
    )
    .unwrap();
    // Smoke on one slot of the virtual bench: no network link of its own.
    let plans = rigor_station::plan_slots(
        &catalog,
        "virtual-bench",
        "smoke",
        &[rigor_station::SlotSpec::new("slot1").profile("fridge-ctl-gen2")],
        &Default::default(),
    )
    .unwrap();
    let _station =
        rigor_station::Station::for_plans(&catalog, "virtual-bench", &plans, &Default::default())
            .await
            .unwrap();
    assert!(!record.exists(), "the dead owner's record is still there");
}
