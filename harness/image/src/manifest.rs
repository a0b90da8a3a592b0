//! The manifest: what an image is for, what it is, and who says so.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::key::SecretKey;

/// The manifest format this crate writes and reads.
pub const FORMAT: u32 = 1;

/// Where an image's manifest lives: next to it, `<image>.manifest.json`.
pub fn manifest_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// Why a manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest is not one: bad JSON, a missing or mistyped field.
    #[error("{}: {path_in_file}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where in it (`version`, `.`).
        path_in_file: String,
        /// What is wrong.
        reason: String,
    },
}

/// A signed statement about one image file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// The manifest format (1).
    pub rigor_image_manifest: u32,
    /// Device family (`fridge-ctl`).
    pub family: String,
    /// Generation (`gen2`).
    pub generation: String,
    /// Firmware version (semantic version).
    pub version: semver::Version,
    /// The image's file name.
    pub image: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// The signer's key id ([`crate::PublicKey::key_id`]).
    pub key_id: String,
    /// The ed25519 signature over [`Manifest::signed_bytes`], base64.
    pub signature: String,
}

impl Manifest {
    /// Describes `image` (named `name`) and signs the description with `key`.
    pub fn sign(
        image: &[u8],
        name: &str,
        family: &str,
        generation: &str,
        version: &semver::Version,
        key: &SecretKey,
    ) -> Manifest {
        let mut manifest = Manifest {
            rigor_image_manifest: FORMAT,
            family: family.to_owned(),
            generation: generation.to_owned(),
            version: version.clone(),
            image: name.to_owned(),
            size: image.len() as u64,
            sha256: sha256_hex(image),
            key_id: key.public().key_id(),
            signature: String::new(),
        };
        manifest.signature = STANDARD.encode(key.sign(&manifest.signed_bytes()).to_bytes());
        manifest
    }

    /// The bytes the signature covers: the tag `rigor-image-manifest/1` and then every field but
    /// the signature, in the order declared, each as a 4-byte big-endian length and its UTF-8
    /// text (the size in decimal). Length prefixes make the encoding unambiguous: no value can
    /// end early and lend its tail to the next field.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let fields = [
            self.rigor_image_manifest.to_string(),
            self.family.clone(),
            self.generation.clone(),
            self.version.to_string(),
            self.image.clone(),
            self.size.to_string(),
            self.sha256.clone(),
            self.key_id.clone(),
        ];
        let mut out = b"rigor-image-manifest/1".to_vec();
        for field in fields {
            let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// Reads a manifest file; `Ok(None)` if there is none.
    pub fn read(path: &Path) -> Result<Option<Manifest>, ManifestError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ManifestError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de)
            .map(Some)
            .map_err(|e| ManifestError::Malformed {
                path: path.to_owned(),
                path_in_file: e.path().to_string(),
                reason: e.inner().to_string(),
            })
    }

    /// Writes it as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), ManifestError> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text).map_err(|source| ManifestError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// SHA-256 in lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
