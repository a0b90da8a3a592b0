//! The virtual bench on its own, for exploring units by hand (a terminal program on the
//! console, a Modbus tool on the supplies) and for writing scenarios. The units are the demo's
//! four, with their firmware already in them, so they boot on power.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rigor_bench::{Fault, InstrumentEndpoint};
use rigor_model::Catalog;

use crate::demo::{RIG, UNITS};
use crate::{RequestError, Station, StationError};

/// Starts the bench with the demo's units, `faults` added by slot; `blank` units carry no
/// firmware until a scenario flashes it.
pub async fn start(
    catalog: &Catalog,
    faults: &BTreeMap<String, Vec<Fault>>,
    blank: bool,
) -> Result<Station, StationError> {
    if let Some(slot) = faults.keys().find(|s| !UNITS.iter().any(|u| u.slot == *s)) {
        return Err(RequestError::SlotNotRun {
            option: "--fault",
            slot: slot.clone(),
            running: UNITS.map(|u| u.slot).join(", "),
        }
        .into());
    }
    let mut units = crate::demo::bench_units(catalog)?;
    for (spec, u) in units.iter_mut().zip(&UNITS) {
        spec.faults.extend(faults.get(u.slot).into_iter().flatten());
        spec.installed = (!blank).then(|| u.version.to_owned());
    }
    Station::start(catalog, RIG, units).await
}

/// Where each unit's hardware is, for people: its console, instruments and uplink.
pub fn describe(catalog: &Catalog, station: &Station, blank: bool) -> String {
    let mut text = String::new();
    let Some(bench) = station.bench() else {
        return text;
    };
    for u in &UNITS {
        let Some(e) = bench.slot(u.slot) else {
            continue;
        };
        let baud = catalog
            .profiles
            .get(u.profile)
            .and_then(|p| p.value.console.as_ref())
            .map_or(115_200, |c| c.baud);
        let firmware = if blank { "blank" } else { u.version };
        let _ = writeln!(
            text,
            "{} {} ({}, firmware {firmware})",
            u.slot, u.serial, u.profile
        );
        let _ = writeln!(text, "  console  {} at {baud} baud", e.console);
        for (name, address) in &e.instruments {
            let model = station
                .rig()
                .instruments
                .get(name)
                .map_or("?", |i| i.model.as_str());
            let at = match address {
                InstrumentEndpoint::Tcp(a) => format!("Modbus TCP {a}"),
                InstrumentEndpoint::Rtu(p) => format!("Modbus RTU {}", p.display()),
            };
            let _ = writeln!(text, "  {name:<8} {at}, unit 1 (register map: {model})");
        }
        let _ = writeln!(
            text,
            "  dio      Modbus TCP {}, unit 1 (coil N drives channel N, discrete input N reads it)",
            e.io
        );
        if let Some(uplink) = &e.uplink {
            let _ = writeln!(text, "  uplink   impairment proxy {}", uplink.local_addr());
        }
        text.push('\n');
    }
    text
}
