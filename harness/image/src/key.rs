//! Release keys: the secret half signs in CI, the public half is listed in device profiles.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret key file is not an ed25519 PKCS#8 PEM key.
    #[error("{} is not an ed25519 private key in PKCS#8 PEM (as `rigor image keygen` writes): {reason}", path.display())]
    BadSecret {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The public key text is not 32 bytes of base64.
    #[error("`{text}` is not an ed25519 public key: expected 32 bytes in base64 (44 characters)")]
    BadPublic {
        /// What was given.
        text: String,
    },
}

/// The secret half of a release key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new random key, from the OS's random source.
    pub fn generate() -> Self {
        SecretKey(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// A key from its 32 secret bytes (for tests and reproducible demo keys).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(bytes))
    }

    /// Reads a PKCS#8 PEM file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        SigningKey::from_pkcs8_pem(&text)
            .map(SecretKey)
            .map_err(|e| KeyError::BadSecret {
                path: path.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Writes it as a PKCS#8 PEM file, readable by the owner only.
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let pem = self
            .0
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        write_private(path, pem.as_bytes()).map_err(io)
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The public half of a release key, as profiles list it: 32 bytes in base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses the base64 text a profile lists.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadPublic {
            text: text.to_owned(),
        };
        let bytes = STANDARD.decode(text.trim()).map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad())
    }

    /// The key as profiles list it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }

    /// A short fingerprint a manifest names its signer by: the first 8 bytes of the SHA-256 of
    /// the key, in hex.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        self.0.verify(message, signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_survives_its_files_and_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        let path = dir.path().join("release.pem");
        key.write(&path).unwrap();
        let again = SecretKey::read(&path).unwrap();
        assert_eq!(again.public(), key.public());
        assert_eq!(
            PublicKey::parse(&key.public().to_base64()).unwrap(),
            key.public()
        );
        assert_eq!(key.public().key_id().len(), 16);
        // Never overwrites a key: losing a release key is worse than an error.
        assert!(key.write(&path).is_err());
    }

    #[test]
    fn public_keys_of_the_wrong_length_are_refused_with_the_expected_form() {
        let err = PublicKey::parse("AAAA").unwrap_err().to_string();
        assert_eq!(
            err,
            "`AAAA` is not an ed25519 public key: expected 32 bytes in base64 (44 characters)"
        );
    }
}
