//! Flashing an image, after its signed manifest passes the profile's trust policy.

use rigor_hal::{FirmwareImage, HalError, ImageFormat};
use rigor_plan::plan::{BoundAction, BoundStep};

use super::*;
use crate::engine::{Done, Run};
use crate::event::FailureClass;

impl Run {
    pub(super) async fn flash(&mut self, step: &BoundStep) -> Done {
        match &step.action {
            BoundAction::Flash {
                image,
                verify,
                formats,
                base_address,
                signing,
                ..
            } => {
                let bytes = match tokio::fs::read(image).await {
                    Ok(b) => b,
                    Err(e) => {
                        return Done::Error(
                            FailureClass::Scenario,
                            format!("cannot read image {image}: {e}"),
                        );
                    }
                };
                // The gate before anything is written: generation, signer, integrity, floor.
                if let Some(signing) = signing {
                    let checked = crate::firmware::trust_policy(
                        &self.plan.family,
                        &self.plan.generation,
                        signing,
                    )
                    .and_then(|policy| {
                        let manifest_at = rigor_image::manifest_path(std::path::Path::new(image));
                        let manifest =
                            rigor_image::Manifest::read(&manifest_at).map_err(|e| e.to_string())?;
                        rigor_image::verify(
                            &policy,
                            image,
                            &bytes,
                            manifest.as_ref(),
                            &manifest_at.display().to_string(),
                        )
                        .map_err(|e| e.to_string())
                    });
                    if let Err(why) = checked {
                        return Done::Error(FailureClass::Scenario, format!("refused: {why}"));
                    }
                }
                let format = match std::path::Path::new(image)
                    .extension()
                    .and_then(|e| e.to_str())
                {
                    Some("hex" | "ihex") => ImageFormat::Hex,
                    Some("bin") => ImageFormat::Bin,
                    Some("elf") | Some("axf") | Some("out") => ImageFormat::Elf,
                    _ => match formats.first() {
                        Some(rigor_model::profile::ImageFormat::Hex) => ImageFormat::Hex,
                        Some(rigor_model::profile::ImageFormat::Bin) => ImageFormat::Bin,
                        _ => ImageFormat::Elf,
                    },
                };
                let image = FirmwareImage {
                    name: image.clone(),
                    bytes: bytes.into(),
                    format,
                    base_address: *base_address,
                };
                let flasher = need!(self.devices.flasher.as_mut(), "the probe");
                match flasher.flash(&image, *verify).await {
                    Ok(_) => Done::Pass,
                    // An image the device or its rules refuse is the build's problem, not the unit's.
                    Err(HalError::Refused { what, reason }) => {
                        Done::Error(FailureClass::Scenario, format!("{what} refused: {reason}"))
                    }
                    Err(e) => hal(e),
                }
            }
            _ => not_of_family(step, "flash"),
        }
    }
}
