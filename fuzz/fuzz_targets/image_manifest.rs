//! An image's signed manifest as `rigor` reads it beside the image, then what verification reads
//! of it (the bytes it signs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("rigor-fuzz-manifest-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("fw.elf.manifest.json");
    if std::fs::write(&path, data).is_ok()
        && let Ok(Some(manifest)) = rigor_image::Manifest::read(&path)
    {
        let _ = manifest.signed_bytes();
    }
});
