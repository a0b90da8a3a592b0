//! What the server offers: one signed image with its manifest, and how it misbehaves on a step's
//! word.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use rigor_image::{Manifest, ManifestError, manifest_path};

/// How the server serves the image, so a test can make the network or the server fail in the
/// ways devices meet in the field. The default serves it faithfully.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Close each of the next `cuts` image transfers after this many bytes of its body.
    pub cut_after: Option<u64>,
    /// How many transfers to cut (with `cut_after`); later ones go through.
    pub cuts: u32,
    /// Flip bits in the image as it is sent: the bytes differ from what the manifest signs.
    pub corrupt: bool,
    /// Serve only the first this many bytes of the image, as if that were all of it.
    pub truncate: Option<u64>,
    /// Stop sending for `.1` after `.0` bytes of the next image transfer, keeping the connection.
    pub stall: Option<(u64, Duration)>,
}

/// The image and manifest on offer.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The manifest, as it is served (its file's bytes, unchanged).
    pub manifest_json: Bytes,
    /// The manifest, parsed: where the image is served and what it is.
    pub manifest: Manifest,
    /// The image.
    pub image: Bytes,
    /// How to serve it.
    pub behaviour: Behaviour,
}

/// Why an image could not be offered.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The image could not be read.
    #[error("cannot read image {}", path.display())]
    Image {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The manifest could not be read or is not one.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// There is no manifest: a device would have nothing to check the image against.
    #[error("image {} has no manifest at {}: sign it with `rigor image sign`", image.display(), manifest.display())]
    Unsigned {
        /// The image.
        image: PathBuf,
        /// Where the manifest was looked for.
        manifest: PathBuf,
    },
}

impl Offer {
    /// Reads the image at `image` and its manifest next to it (`<image>.manifest.json`).
    pub fn from_files(image: &Path, behaviour: Behaviour) -> Result<Offer, OfferError> {
        let bytes = std::fs::read(image).map_err(|source| OfferError::Image {
            path: image.to_owned(),
            source,
        })?;
        let at = manifest_path(image);
        let manifest = Manifest::read(&at)?.ok_or_else(|| OfferError::Unsigned {
            image: image.to_owned(),
            manifest: at.clone(),
        })?;
        let json = std::fs::read(&at).map_err(|source| ManifestError::Read {
            path: at.clone(),
            source,
        })?;
        Ok(Offer {
            manifest_json: Bytes::from(json),
            manifest,
            image: Bytes::from(bytes),
            behaviour,
        })
    }

    /// The image as this offer serves it: truncated or corrupted as its behaviour says.
    pub(crate) fn served_image(&self) -> Bytes {
        let mut image = self.image.clone();
        if let Some(n) = self.behaviour.truncate {
            image.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if self.behaviour.corrupt && !image.is_empty() {
            let mut bytes = image.to_vec();
            // One flipped byte in the middle: the size holds, the digest does not.
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x5A;
            image = Bytes::from(bytes);
        }
        image
    }
}
