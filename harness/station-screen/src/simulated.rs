//! The units behind a virtual bench's slots: a scanned serial becomes a simulated unit of its
//! generation, built as the demo builds it (the demo's serials keep their buggy build or stuck
//! pin, so a station on the bench shows real failures), with its firmware build written for the
//! scenario that flashes it.

use std::path::Path;

use rigor_bench::Fault;
use rigor_station::demo::UNITS;

/// How the simulated unit with `serial` of `profile` is built: its firmware version and faults.
pub fn unit(serial: &str, profile: &str) -> (String, Vec<Fault>) {
    if let Some(u) = UNITS.iter().find(|u| u.serial == serial) {
        return (u.version.to_owned(), u.faults.to_vec());
    }
    // Any other serial is a good unit on a good build of its generation (a demo unit's faults
    // are its own, not its build's).
    let good = UNITS.iter().find(|u| {
        u.profile == profile && !rigor_bench::firmware::TEMPERATURE_BUG.contains(&u.version)
    });
    let version = good.or_else(|| UNITS.iter().find(|u| u.profile == profile));
    (
        version.map_or("1.0.0", |u| u.version).to_owned(),
        Vec::new(),
    )
}

/// Writes the firmware build of a unit into `dir` (the scenario's `build_dir`).
pub fn write_build(
    dir: &Path,
    family: &str,
    generation: &str,
    version: &str,
) -> std::io::Result<()> {
    rigor_bench::firmware::write_build(dir, family, generation, version).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demos_serials_keep_their_faults_and_others_are_good() {
        assert_eq!(unit("FC2-000201", "fridge-ctl-gen2").0, "2.1.1");
        assert_eq!(
            unit("FC2-000202", "fridge-ctl-gen2"),
            ("2.1.0".to_owned(), vec![Fault::StuckPin])
        );
        assert_eq!(
            unit("FC2-123456", "fridge-ctl-gen2"),
            ("2.1.0".to_owned(), vec![])
        );
        assert_eq!(unit("FC3-999999", "fridge-ctl-gen3").0, "3.0.2");
    }
}
