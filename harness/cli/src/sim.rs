//! `rigor sim`: the virtual bench on its own, until Ctrl-C, for exploring units by hand (a
//! terminal program on the console, a Modbus tool on the supplies) and for writing scenarios.
//! The units are the demo's four, with their firmware already in them, so they boot on power.

use std::path::PathBuf;

use rigor_model::Catalog;

use crate::exit_code;

/// What `rigor sim` was asked.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Build a slot's unit with a fault, `SLOT=FAULT` (see `rigor run --fault`).
    #[arg(long = "fault", value_name = "SLOT=FAULT")]
    pub faults: Vec<String>,
    /// Units arrive blank: nothing boots until a scenario flashes it.
    #[arg(long)]
    pub blank: bool,
    /// Folders with rigor files (default: the shipped folders).
    #[arg(long = "path")]
    pub paths: Vec<PathBuf>,
}

/// Starts the bench, prints where each unit's hardware is, and waits for Ctrl-C or SIGTERM.
pub async fn run(args: SimArgs) -> i32 {
    let paths = crate::check::paths_or_default(&args.paths);
    let (catalog, diags) = rigor_model::load_paths(&paths);
    if !diags.is_empty() {
        eprint!("{diags}");
        return exit_code::INVALID_INPUT;
    }
    match sim(&catalog, &args).await {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

async fn sim(catalog: &Catalog, args: &SimArgs) -> Result<i32, (i32, String)> {
    let invalid = |m: String| (exit_code::INVALID_INPUT, m);
    let rig = catalog
        .rigs
        .get("virtual-bench")
        .ok_or_else(|| invalid("the shipped rig `virtual-bench` is missing".into()))?;
    let mut specs = Vec::new();
    for u in &crate::demo::UNITS {
        let (profile, fixture) = crate::demo::profile_and_fixture(catalog, rig, u)?;
        let mut faults = u.faults.to_vec();
        for f in &args.faults {
            let parsed = f
                .split_once('=')
                .and_then(|(slot, name)| Some((slot, rigor_bench::Fault::parse(name)?)));
            match parsed {
                Some((slot, fault)) if slot == u.slot => faults.push(fault),
                Some(_) => {}
                None => {
                    return Err(invalid(format!(
                        "`--fault {f}`: write SLOT=FAULT with FAULT one of {}",
                        rigor_bench::Fault::NAMES
                    )));
                }
            }
        }
        specs.push(rigor_bench::UnitSpec {
            slot: u.slot.to_owned(),
            serial: u.serial.to_owned(),
            profile: profile.value.clone(),
            fixture: fixture.value.clone(),
            faults,
            installed: (!args.blank).then(|| u.version.to_owned()),
        });
    }
    let seed = rig.value.virtual_bench.as_ref().map_or(0, |b| b.seed);
    let bench = crate::run::start_bench(catalog, &rig.value, specs, seed).await?;
    println!("rigor sim: the virtual bench runs; Ctrl-C stops it\n");
    for u in &crate::demo::UNITS {
        let Some(e) = bench.slot(u.slot) else {
            continue;
        };
        let baud = catalog
            .profiles
            .get(u.profile)
            .and_then(|p| p.value.console.as_ref())
            .map_or(115_200, |c| c.baud);
        let firmware = if args.blank { "blank" } else { u.version };
        println!(
            "{} {} ({}, firmware {firmware})",
            u.slot, u.serial, u.profile
        );
        println!("  console  {} at {baud} baud", e.console);
        for (name, address) in &e.instruments {
            let model = rig
                .value
                .instruments
                .get(name)
                .map_or("?", |i| i.model.as_str());
            let at = match address {
                rigor_bench::InstrumentEndpoint::Tcp(a) => format!("Modbus TCP {a}"),
                rigor_bench::InstrumentEndpoint::Rtu(p) => format!("Modbus RTU {}", p.display()),
            };
            println!("  {name:<8} {at}, unit 1 (register map: {model})");
        }
        println!(
            "  dio      Modbus TCP {}, unit 1 (coil N drives channel N, discrete input N reads it)",
            e.io
        );
        if let Some(uplink) = &e.uplink {
            println!("  uplink   impairment proxy {}", uplink.local_addr());
        }
        println!();
    }
    println!(
        "Power a unit by writing its supply's `voltage_set` and `output` registers, then talk on its console."
    );
    crate::run::interrupted().await;
    println!("rigor sim: stopped");
    drop(bench);
    Ok(exit_code::SUCCESS)
}
