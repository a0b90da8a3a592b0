//! Which firmware a run puts on its unit, known before the run starts so its record carries it,
//! and the check an image passes before it is flashed.

use rigor_image::{Manifest, TrustPolicy, manifest_path};
use rigor_model::profile::Signing;
use rigor_plan::plan::{BoundAction, BoundPlan};
use sha2::{Digest, Sha256};

/// The firmware a run's record names: the image it flashes first, or what the unit carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareIdentity {
    /// SHA-256 of the image, lowercase hex; unknown when only the unit's word is there.
    pub sha256: Option<String>,
    /// The version its manifest declares, where it has one.
    pub version: Option<String>,
}

/// The identity of the first image `plan` flashes, if it flashes one that can be read now.
///
/// An image that cannot be read gives `None` here; the flash step reports why when it runs, as
/// a located error of the step rather than of the run's start.
pub fn first_flashed(plan: &BoundPlan) -> Option<FirmwareIdentity> {
    let path = plan.all_steps().into_iter().find_map(|s| match &s.action {
        BoundAction::Flash { image, .. } => Some(image.clone()),
        _ => None,
    })?;
    let bytes = std::fs::read(&path).ok()?;
    // The version as the manifest states it; checked, with the signature, when the step runs.
    let version = Manifest::read(&manifest_path(std::path::Path::new(&path)))
        .ok()
        .flatten()
        .map(|m| m.version.to_string());
    Some(FirmwareIdentity {
        sha256: Some(hex(&Sha256::digest(&bytes))),
        version,
    })
}

/// The trust policy of a generation whose profile has signing rules; an error names the profile
/// value that is not a key or a version.
pub fn trust_policy(
    family: &str,
    generation: &str,
    signing: &Signing,
) -> Result<TrustPolicy, String> {
    let trusted = signing
        .trusted_keys
        .iter()
        .map(|(name, key)| {
            key.key()
                .map(|key| (name.clone(), *key))
                .map_err(|e| format!("the profile's trusted key `{name}`: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rollback_floor = signing
        .anti_rollback_floor
        .as_ref()
        .map(|v| {
            v.version().cloned().map_err(|e| {
                format!("the profile's anti-rollback floor `{v}` is not a semantic version: {e}")
            })
        })
        .transpose()?;
    Ok(TrustPolicy {
        family: family.to_owned(),
        generation: generation.to_owned(),
        trusted,
        rollback_floor,
        required: signing.required,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
