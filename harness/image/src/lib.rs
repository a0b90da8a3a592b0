//! Signed firmware image manifests, checked before anything is written to a device.
//!
//! A build's image travels with a manifest, `<image>.manifest.json`, that says which device
//! family and generation it is for, its version, its size and SHA-256, and carries an ed25519
//! signature over all of that by the release key. A device profile lists the public keys its
//! generation trusts and the lowest version it may be given (the anti-rollback floor). Before a
//! flash, rigor checks, in this order, that:
//! - the manifest exists and parses (else the image is *unsigned*);
//! - it was signed by a trusted key, and the signature holds over its fields;
//! - the image is the one the manifest describes (size, SHA-256);
//! - it is for this family and generation;
//! - its version is not below the floor.
//!
//! What this protects against: the wrong generation's build on a board, a tampered or truncated
//! image, an unsigned developer build on a factory line, and a downgrade to a version with known
//! bugs. What it does not: a stolen release key (rotate it: profiles name keys, so a new key is
//! added and the old one removed with `null`), or a device that does not check signatures itself
//! (this is the test station's gate, not secure boot).
//!
//! The signature is over a fixed binary encoding of the fields (see [`Manifest::signed_bytes`]),
//! never over the JSON text, so reformatting a manifest does not break it and no field can be
//! moved into another's place.

mod key;
mod manifest;
mod verify;

pub use key::{KeyError, PublicKey, SecretKey};
pub use manifest::{Manifest, ManifestError, manifest_path};
pub use verify::{ImageError, TrustPolicy, VerifiedImage, verify, verify_file};

use std::path::Path;

/// Signs the image at `image` for `family`/`generation` as `version` with `key`, and writes its
/// manifest next to it. Returns the manifest's path.
pub fn sign_file(
    image: &Path,
    key: &SecretKey,
    family: &str,
    generation: &str,
    version: &semver::Version,
) -> Result<std::path::PathBuf, ManifestError> {
    let bytes = std::fs::read(image).map_err(|source| ManifestError::Read {
        path: image.to_owned(),
        source,
    })?;
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest = Manifest::sign(&bytes, &name, family, generation, version, key);
    let path = manifest_path(image);
    manifest.write(&path)?;
    Ok(path)
}
