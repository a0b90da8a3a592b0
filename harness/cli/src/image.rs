//! `rigor image`: release keys, signing builds in CI, and checking an image as a station would.

use std::path::PathBuf;

use rigor_image::SecretKey;

use crate::exit_code;

/// What `rigor image` was asked.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Make a release key: writes the secret key (PKCS#8 PEM, owner-only) and prints the public
    /// key a device profile lists under `flash.signing.trusted-keys`.
    Keygen {
        /// Where the secret key goes; never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a build: writes `<IMAGE>.manifest.json` next to it.
    Sign {
        /// The image (ELF, HEX or BIN).
        image: PathBuf,
        /// The release key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Device family, as profiles name it.
        #[arg(long)]
        family: String,
        /// Generation, as profiles name it.
        #[arg(long)]
        generation: String,
        /// The firmware's version (semantic version).
        #[arg(long)]
        version: semver::Version,
    },
    /// Check an image and its manifest against a device profile's signing rules, as a flash
    /// would before writing anything.
    Verify {
        /// The image.
        image: PathBuf,
        /// The device profile whose rules apply.
        #[arg(long)]
        profile: String,
        /// The rigor files.
        #[command(flatten)]
        tree: crate::check::Tree,
    },
}

/// Runs the command and returns the exit code.
pub fn run(command: ImageCommand) -> i32 {
    match command {
        ImageCommand::Keygen { out } => {
            let key = SecretKey::generate();
            match key.write(&out) {
                Ok(()) => {
                    println!("wrote {}", out.display());
                    println!(
                        "public key (for a profile's trusted-keys): {}",
                        key.public()
                    );
                    println!("key id: {}", key.public().key_id());
                    exit_code::SUCCESS
                }
                Err(e) => fail(exit_code::INVALID_INPUT, e),
            }
        }
        ImageCommand::Sign {
            image,
            key,
            family,
            generation,
            version,
        } => {
            let key = match SecretKey::read(&key) {
                Ok(k) => k,
                Err(e) => return fail(exit_code::INVALID_INPUT, e),
            };
            match rigor_image::sign_file(&image, &key, &family, &generation, &version) {
                Ok(path) => {
                    println!(
                        "signed {} as {family}/{generation} {version} with key {}: {}",
                        image.display(),
                        key.public().key_id(),
                        path.display()
                    );
                    exit_code::SUCCESS
                }
                Err(e) => fail(exit_code::INVALID_INPUT, e),
            }
        }
        ImageCommand::Verify {
            image,
            profile,
            tree,
        } => verify(&image, &profile, &tree.paths),
    }
}

fn verify(image: &std::path::Path, profile: &str, paths: &[PathBuf]) -> i32 {
    let (catalog, diags) = rigor_model::load_paths(&crate::check::paths_or_default(paths));
    if !diags.is_empty() {
        eprint!("{diags}");
        return exit_code::INVALID_INPUT;
    }
    let Some(entry) = catalog.profiles.get(profile) else {
        let known: Vec<&str> = catalog.profiles.keys().map(String::as_str).collect();
        eprintln!(
            "error: no device profile `{profile}`; profiles: {}",
            known.join(", ")
        );
        return exit_code::INVALID_INPUT;
    };
    let signing = entry.value.flash.as_ref().and_then(|f| f.signing.clone());
    let Some(signing) = signing else {
        println!(
            "{profile} checks no signatures: any image of the right format is flashed as it is"
        );
        return exit_code::SUCCESS;
    };
    let policy =
        match rigor_runner::firmware::trust_policy(entry.family(), entry.generation(), &signing) {
            Ok(p) => p,
            Err(e) => return fail(exit_code::INVALID_INPUT, e),
        };
    match rigor_image::verify_file(&policy, image) {
        Ok(ok) => {
            let version = ok.version.map(|v| v.to_string()).unwrap_or_default();
            let signer = ok.signer.unwrap_or_default();
            println!(
                "ok: {} is {}/{} {version}, signed by {signer}, sha256 {}",
                image.display(),
                entry.family(),
                entry.generation(),
                ok.sha256
            );
            exit_code::SUCCESS
        }
        Err(e) => fail(exit_code::TEST_FAILED, e),
    }
}

fn fail(code: i32, e: impl std::fmt::Display) -> i32 {
    eprintln!("error: {e}");
    code
}
