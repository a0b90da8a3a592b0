//! The shipped rig and profiles the kernel tests stand in for. The guest mounts the workspace
//! read-only at its host path, so the files are read where the repository keeps them.

use std::path::PathBuf;

use rigor_model::rig::{GpioLine, Rig};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `rigs/rack-a.yaml`, loaded with the shipped profiles and fixtures as `rigor check` does.
pub fn rack_a() -> Rig {
    let root = workspace();
    let paths: Vec<PathBuf> = ["device-profiles", "rigs", "fixtures"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    let (catalog, diags) = rigor_model::load_paths(&paths);
    assert!(diags.is_empty(), "{diags}");
    catalog.rigs.get("rack-a").expect("rack-a").value.clone()
}

/// A slot's GPIO character-device lines: (the rig's name, chip, offset).
pub fn gpiochip_lines(rig: &Rig, slot: &str) -> Vec<(String, String, u32)> {
    rig.slots[slot]
        .gpio
        .iter()
        .filter_map(|(name, line)| match line {
            GpioLine::Gpiochip(g) => Some((name.clone(), g.chip.clone(), g.line)),
            _ => None,
        })
        .collect()
}
