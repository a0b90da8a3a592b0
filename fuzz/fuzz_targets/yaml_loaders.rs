//! Every kind of rigor file through the real loader (kind detection, `extends:` merging,
//! validation), from a file on disk as `rigor check` reads it. The first byte picks the file's
//! name, so files whose kind comes from their folder or name are reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    "scenario.yaml",
    "rig.yaml",
    "fixture.yaml",
    "profile.yaml",
    "instrument.yaml",
    "route.yaml",
    "fragment.yaml",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile_dir() else { return };
    let file = dir.join(NAMES[usize::from(pick) % NAMES.len()]);
    if std::fs::write(&file, text).is_ok() {
        let _ = rigor_model::load_paths(&[file.clone()]);
    }
    let _ = std::fs::remove_file(&file);
    // The typed parsers on their own, on the text as given.
    if let Ok(text) = std::str::from_utf8(text) {
        let path = std::path::Path::new("fuzz.yaml");
        let _ = rigor_model::source::read_value(path, text);
        let _ = rigor_model::source::parse::<rigor_model::scenario::Scenario>(path, text);
        let _ = rigor_model::source::parse::<rigor_model::rig::Rig>(path, text);
        let _ = rigor_model::source::parse::<rigor_model::fixture::Fixture>(path, text);
        let _ = rigor_model::source::parse::<rigor_model::instrument::InstrumentModel>(path, text);
    }
});

/// One folder per fuzzing process, in memory where the machine has it.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("rigor-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
