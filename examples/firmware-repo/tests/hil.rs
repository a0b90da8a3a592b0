//! The firmware's hardware tests: every scenario × slot of the rig is a test, named
//! `smoke::gen2::slot2`. `cargo test --test hil -- smoke`, `cargo nextest run --test hil`.

fn main() {
    // Where the build put the images; without one, stand-ins of good builds are written.
    let firmware = std::env::var("FIRMWARE_DIR").unwrap_or_else(|_| stand_in_builds());
    let config = rigor_libtest::Config::new("virtual-bench")
        .path("../../device-profiles")
        .path("../../fixtures")
        .path("../../rigs")
        .path("../../examples/scenarios")
        .slot_profile("slot1", "fridge-ctl-gen1")
        .slot_profile("slot2", "fridge-ctl-gen2")
        .slot_profile("slot3", "fridge-ctl-gen3")
        .param("build_dir", firmware)
        .store(concat!(env!("CARGO_TARGET_TMPDIR"), "/hil.db"));
    rigor_libtest::test_main(installed(config));
}

/// The virtual bench's units: their labels, and the release they arrive with from an earlier
/// station (scenarios that do not flash test what is there).
fn installed(config: rigor_libtest::Config) -> rigor_libtest::Config {
    config
        .unit("slot1", "FC1-000101")
        .unit("slot2", "FC2-000201")
        .unit("slot3", "FC3-000301")
        .installed("slot1", "1.4.2")
        .installed("slot2", "2.1.0")
        .installed("slot3", "3.0.2")
}

/// Writes good builds of the three generations, signed where the generation wants it.
fn stand_in_builds() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("firmware");
    for (generation, version) in [("gen1", "1.4.2"), ("gen2", "2.1.0"), ("gen3", "3.0.2")] {
        if let Err(e) = rigor_bench::firmware::write_build(&dir, "fridge-ctl", generation, version) {
            eprintln!("cannot write the stand-in builds into {}: {e}", dir.display());
            std::process::exit(101);
        }
    }
    dir.display().to_string()
}
