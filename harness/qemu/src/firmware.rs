//! Building the QEMU rig's firmware (`fixtures/qemu-fridge-fw`) for the board: a test, the demo
//! of a rack owner, or CI builds a version of it to flash.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the firmware did not build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be started or a file not copied.
    #[error("building the QEMU firmware: {0}")]
    Io(#[from] std::io::Error),
    /// cargo failed (is the `thumbv7m-none-eabi` target installed?).
    #[error(
        "building the QEMU firmware failed ({0}); is the target installed (`rustup target add thumbv7m-none-eabi`)?"
    )]
    Cargo(std::process::ExitStatus),
}

/// The firmware project, in this checkout.
pub fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/qemu-fridge-fw")
}

/// Builds version `version` (with the `lockup` feature: a build that locks the CPU up on its
/// first command) into `target`, and returns the ELF, copied to a name of its own so several
/// versions live side by side.
pub fn build(target: &Path, version: &str, lockup: bool) -> Result<PathBuf, BuildError> {
    // Every variant builds to the same output file before it is copied to its own name: a
    // lock over build and copy keeps another process (a parallel test, a second demo) from
    // building another variant over it in between. Cargo's own lock covers the build alone.
    let images = target.join("images");
    std::fs::create_dir_all(&images)?;
    let lock = std::fs::File::create(images.join(".build.lock"))?;
    lock.lock()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "thumbv7m-none-eabi",
    ])
    .arg("--manifest-path")
    .arg(project().join("Cargo.toml"))
    .arg("--target-dir")
    .arg(target)
    .env("FW_VERSION", version)
    .env_remove("FW_SERIAL");
    // Flags meant for the host build (CI's, a developer's) have no business in the firmware's.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    if lockup {
        cmd.args(["--features", "lockup"]);
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err(BuildError::Cargo(status));
    }
    let suffix = if lockup { "-lockup" } else { "" };
    let image = images.join(format!("qemu-fridge-fw-{version}{suffix}.elf"));
    // Copied beside it and renamed over it: a QEMU of another process loading the image in the
    // meantime reads the old file or the new one, never half of one.
    let partial = images.join(format!(
        ".qemu-fridge-fw-{version}{suffix}.elf.{}",
        std::process::id()
    ));
    std::fs::copy(
        target.join("thumbv7m-none-eabi/release/qemu-fridge-fw"),
        &partial,
    )?;
    std::fs::rename(&partial, &image)?;
    Ok(image)
}
