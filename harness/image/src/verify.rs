//! The check before a flash: is this image, signed by whom, for this generation, new enough?

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;

use crate::key::PublicKey;
use crate::manifest::{Manifest, ManifestError, manifest_path, sha256_hex};

/// What a generation accepts: from its device profile.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Device family.
    pub family: String,
    /// Generation.
    pub generation: String,
    /// Trusted keys by the profile's names for them.
    pub trusted: Vec<(String, PublicKey)>,
    /// The lowest version allowed.
    pub rollback_floor: Option<semver::Version>,
    /// Whether an image without a manifest is refused.
    pub required: bool,
}

/// An image that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    /// SHA-256 of the image, lowercase hex.
    pub sha256: String,
    /// Its version, if it has a manifest.
    pub version: Option<semver::Version>,
    /// The profile's name of the key that signed it, if signed.
    pub signer: Option<String>,
}

/// Why an image is refused. Every refusal happens before anything is written to a device.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image file could not be read.
    #[error("cannot read image {image}: {source}")]
    Read {
        /// The image.
        image: String,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest could not be read, or is not one.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// No manifest, on a generation that requires one.
    #[error(
        "image {image} is unsigned: {manifest} is missing, and {family}/{generation} requires signed images (sign it with `rigor image sign`)"
    )]
    Unsigned {
        /// The image.
        image: String,
        /// Where the manifest was looked for.
        manifest: String,
        /// Family.
        family: String,
        /// Generation.
        generation: String,
    },
    /// Signed by a key the generation does not trust.
    #[error(
        "image {image} is signed by key {key_id}, which {generation} does not trust; it trusts {trusted}"
    )]
    UnknownSigner {
        /// The image.
        image: String,
        /// The signer's key id.
        key_id: String,
        /// Generation.
        generation: String,
        /// The trusted keys, `name (id)`.
        trusted: String,
    },
    /// The signature does not hold: the manifest was changed after signing, or forged.
    #[error(
        "image {image}: the manifest's signature by {signer} does not hold; the manifest was changed after it was signed"
    )]
    BadSignature {
        /// The image.
        image: String,
        /// The key it claims.
        signer: String,
    },
    /// The image is not the one the manifest describes.
    #[error(
        "image {image} is not the one its manifest describes: {what} is {actual}, the manifest says {expected}"
    )]
    Mismatch {
        /// The image.
        image: String,
        /// `size` or `sha-256`.
        what: &'static str,
        /// What the manifest says.
        expected: String,
        /// What the file has.
        actual: String,
    },
    /// Built for another family or generation.
    #[error("image {image} is for {built_for}, not {expected}")]
    WrongTarget {
        /// The image.
        image: String,
        /// `family/generation` of the manifest.
        built_for: String,
        /// `family/generation` of the profile.
        expected: String,
    },
    /// Below the anti-rollback floor.
    #[error(
        "image {image} is version {version}, below {generation}'s anti-rollback floor {floor}: a downgrade is refused"
    )]
    Downgrade {
        /// The image.
        image: String,
        /// Its version.
        version: String,
        /// The floor.
        floor: String,
        /// Generation.
        generation: String,
    },
}

/// Checks `image` (its bytes, named `name` in messages) against `manifest` and `policy`.
pub fn verify(
    policy: &TrustPolicy,
    name: &str,
    image: &[u8],
    manifest: Option<&Manifest>,
    manifest_name: &str,
) -> Result<VerifiedImage, ImageError> {
    let sha256 = sha256_hex(image);
    let Some(m) = manifest else {
        if policy.required {
            return Err(ImageError::Unsigned {
                image: name.to_owned(),
                manifest: manifest_name.to_owned(),
                family: policy.family.clone(),
                generation: policy.generation.clone(),
            });
        }
        return Ok(VerifiedImage {
            sha256,
            version: None,
            signer: None,
        });
    };
    let Some((signer, key)) = policy.trusted.iter().find(|(_, k)| k.key_id() == m.key_id) else {
        let trusted: Vec<String> = policy
            .trusted
            .iter()
            .map(|(n, k)| format!("{n} ({})", k.key_id()))
            .collect();
        return Err(ImageError::UnknownSigner {
            image: name.to_owned(),
            key_id: m.key_id.clone(),
            generation: policy.generation.clone(),
            trusted: if trusted.is_empty() {
                "no key".to_owned()
            } else {
                trusted.join(", ")
            },
        });
    };
    let signature = STANDARD
        .decode(&m.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b));
    if !signature.is_some_and(|s| key.verifies(&m.signed_bytes(), &s)) {
        return Err(ImageError::BadSignature {
            image: name.to_owned(),
            signer: signer.clone(),
        });
    }
    let mismatch = |what, expected: String, actual: String| ImageError::Mismatch {
        image: name.to_owned(),
        what,
        expected,
        actual,
    };
    if m.size != image.len() as u64 {
        return Err(mismatch(
            "size",
            m.size.to_string(),
            image.len().to_string(),
        ));
    }
    if m.sha256 != sha256 {
        return Err(mismatch("sha-256", m.sha256.clone(), sha256));
    }
    if m.family != policy.family || m.generation != policy.generation {
        return Err(ImageError::WrongTarget {
            image: name.to_owned(),
            built_for: format!("{}/{}", m.family, m.generation),
            expected: format!("{}/{}", policy.family, policy.generation),
        });
    }
    if let Some(floor) = &policy.rollback_floor
        && m.version < *floor
    {
        return Err(ImageError::Downgrade {
            image: name.to_owned(),
            version: m.version.to_string(),
            floor: floor.to_string(),
            generation: policy.generation.clone(),
        });
    }
    Ok(VerifiedImage {
        sha256,
        version: Some(m.version.clone()),
        signer: Some(signer.clone()),
    })
}

/// Reads the image at `path` and its manifest next to it, and checks them against `policy`.
pub fn verify_file(policy: &TrustPolicy, path: &Path) -> Result<VerifiedImage, ImageError> {
    let name = path.display().to_string();
    let image = std::fs::read(path).map_err(|source| ImageError::Read {
        image: name.clone(),
        source,
    })?;
    let manifest_at = manifest_path(path);
    let manifest = Manifest::read(&manifest_at)?;
    verify(
        policy,
        &name,
        &image,
        manifest.as_ref(),
        &manifest_at.display().to_string(),
    )
}
