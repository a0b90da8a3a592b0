//! What a profile's signing rules name, parsed once ([`crate::parsed`]): the release keys it
//! trusts and the lowest version it accepts.

use crate::parsed::{Kind, Parsed};

/// An ed25519 public key as a profile lists it: 32 bytes in base64.
pub type TrustedKey = Parsed<Ed25519>;

/// A semantic version (`2.1.0`).
pub type Version = Parsed<SemVer>;

/// The text of an ed25519 public key.
pub struct Ed25519;

impl Kind for Ed25519 {
    type Value = rigor_image::PublicKey;
    type Error = rigor_image::KeyError;
    fn parse(text: &str) -> Result<Self::Value, Self::Error> {
        rigor_image::PublicKey::parse(text)
    }
}

/// The text of a semantic version.
pub struct SemVer;

impl Kind for SemVer {
    type Value = semver::Version;
    type Error = semver::Error;
    fn parse(text: &str) -> Result<Self::Value, Self::Error> {
        text.parse()
    }
}

impl TrustedKey {
    /// The key, or why the text is not one.
    pub fn key(&self) -> Result<&rigor_image::PublicKey, &rigor_image::KeyError> {
        self.parsed()
    }
}

impl Version {
    /// The version, or why the text is not one.
    pub fn version(&self) -> Result<&semver::Version, &semver::Error> {
        self.parsed()
    }
}
