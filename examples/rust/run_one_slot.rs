//! rigor as a library: run the smoke scenario on slot 1 of the virtual bench and read the outcome.
//! `cargo run -p rigor-station --example run_one_slot` (from a checkout; it records into
//! `example.db` and builds a demo firmware image into `example-firmware/`).

use rigor_station::{SlotSpec, Station, plan_slots};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let catalog = rigor_station::load(&["device-profiles", "rigs", "fixtures", "examples"])?;
    rigor_bench::firmware::write_build("example-firmware".as_ref(), "fridge-ctl", "gen1", "1.4.2")?;
    let build_dir = rigor_model::value::Scalar::Text("example-firmware".into());
    let params = [("build_dir".to_owned(), build_dir)].into();
    let slots = [SlotSpec::new("slot1")
        .profile("fridge-ctl-gen1")
        .unit("FC1-000777")];
    let plans = plan_slots(&catalog, "virtual-bench", "smoke", &slots, &params)?;
    let station =
        Station::for_plans(&catalog, "virtual-bench", &plans, &Default::default()).await?;
    let mut jobs = Vec::new();
    for plan in plans {
        jobs.push(station.open(plan, Some("example")).await?);
    }
    let sinks =
        rigor_station::record_into("example.db", vec![Box::new(rigor_report::Progress::new())])?;
    for slot in station
        .run(jobs, &sinks, rigor_station::never_cancelled())
        .await
    {
        let run = slot.result?;
        println!(
            "{}: attempt {} {} {}",
            slot.slot,
            run.attempt,
            run.outcome,
            run.message.unwrap_or_default()
        );
    }
    Ok(())
}
