//! Which firmware a run puts on its unit, known before the run starts so its record carries it.

use rigor_plan::plan::{BoundAction, BoundPlan};
use sha2::{Digest, Sha256};

/// The image a run flashes first, as its record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareIdentity {
    /// SHA-256 of the image file, lowercase hex.
    pub sha256: String,
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
    Some(FirmwareIdentity {
        sha256: hex(&Sha256::digest(&bytes)),
        version: None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
