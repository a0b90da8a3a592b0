//! Artifacts (logs, captures, images) stored by content: one blob per SHA-256, however many runs
//! link it, and a link row per run (and step) naming it.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::input::non_empty;
use crate::record::require_open_run;
use crate::store::Store;
use crate::types::RunId;
use rusqlite::Connection;

/// A run's link to a stored blob (`run_artifacts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactLink {
    /// The step that produced it; `None` for the run as a whole.
    pub step_index: Option<u32>,
    /// Name within the run (`console.log`).
    pub name: String,
    /// Media type (`text/plain`).
    pub media_type: String,
    /// SHA-256 (lowercase hex) of the content, the key of [`Store::artifact_content`].
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl Store {
    /// Stores `content` under its SHA-256 (once: identical content is not stored again) and links
    /// it to an open run, and to one of its steps if given. Returns the SHA-256 in lowercase hex.
    pub fn store_artifact(
        &mut self,
        run: RunId,
        step_index: Option<u32>,
        name: &str,
        media_type: &str,
        content: &[u8],
    ) -> Result<String, StoreError> {
        let mut batch = self.batch()?;
        let sha256 = batch.store_artifact(run, step_index, name, media_type, content)?;
        batch.commit()?;
        Ok(sha256)
    }

    /// The content stored under `sha256`, if any.
    pub fn artifact_content(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT content FROM artifact_blobs WHERE sha256 = ?1")?
            .query_row([sha256], |row| row.get(0))
            .optional()?)
    }
}

/// SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `type/subtype`, both non-empty, no spaces: enough to keep junk out, not a full RFC 6838 parse.
fn is_media_type(text: &str) -> bool {
    match text.split_once('/') {
        Some((kind, sub)) => {
            !kind.is_empty() && !sub.is_empty() && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Refuses an artifact without a name or with something that is not a media type.
pub(crate) fn validate(name: &str, media_type: &str) -> Result<(), StoreError> {
    non_empty("artifact name", name)?;
    if !is_media_type(media_type) {
        return Err(StoreError::Invalid {
            field: "media_type",
            value: media_type.to_owned(),
            expected: "a media type such as text/plain",
        });
    }
    Ok(())
}

/// Stores the blob once and links it to the open run.
pub(crate) fn insert(
    tx: &Connection,
    run: RunId,
    step_index: Option<u32>,
    name: &str,
    media_type: &str,
    content: &[u8],
) -> Result<String, StoreError> {
    let sha256 = sha256_hex(content);
    require_open_run(tx, run)?;
    let stored: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM artifact_blobs WHERE sha256 = ?1)")?
        .query_row([&sha256], |row| row.get(0))?;
    if !stored {
        tx.prepare_cached(
            "INSERT INTO artifact_blobs (sha256, size, content) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![sha256, content.len() as i64, content])?;
    }
    tx.prepare_cached(
        "INSERT INTO run_artifacts (run_id, step_index, name, media_type, sha256) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![run, step_index, name, media_type, sha256])?;
    Ok(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_is_the_known_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn media_types() {
        assert!(is_media_type("text/plain"));
        assert!(is_media_type("application/vnd.rigor+json"));
        assert!(!is_media_type("text"));
        assert!(!is_media_type("/plain"));
        assert!(!is_media_type("text/ plain"));
    }
}
