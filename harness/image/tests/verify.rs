//! Signing and every refusal, through the files a CI pipeline and a station would see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rigor_image::{
    ImageError, Manifest, SecretKey, TrustPolicy, manifest_path, sign_file, verify_file,
};

fn v(s: &str) -> semver::Version {
    s.parse().unwrap()
}

fn policy(trusted: &SecretKey) -> TrustPolicy {
    TrustPolicy {
        family: "fridge-ctl".into(),
        generation: "gen2".into(),
        trusted: vec![("release-2023".into(), trusted.public())],
        rollback_floor: Some(v("2.0.0")),
        required: true,
    }
}

/// A 4 KiB image in a temporary folder.
fn image(dir: &Path) -> PathBuf {
    let path = dir.join("fw.bin");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_signed_image_passes_and_names_its_version_and_signer() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let img = image(dir.path());
    let written = sign_file(&img, &key, "fridge-ctl", "gen2", &v("2.1.0")).unwrap();
    assert_eq!(written, manifest_path(&img));
    let ok = verify_file(&policy(&key), &img).unwrap();
    assert_eq!(ok.version, Some(v("2.1.0")));
    assert_eq!(ok.signer.as_deref(), Some("release-2023"));
    assert_eq!(ok.sha256.len(), 64);
}

#[test]
fn each_way_an_image_can_be_wrong_is_refused_with_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let img = image(dir.path());
    let refused = |p: &TrustPolicy| verify_file(p, &img).unwrap_err();

    // Unsigned.
    let err = refused(&policy(&key));
    assert!(matches!(err, ImageError::Unsigned { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("fridge-ctl/gen2 requires signed images")
    );

    // Signed by a key the generation does not trust.
    let stranger = SecretKey::generate();
    sign_file(&img, &stranger, "fridge-ctl", "gen2", &v("2.1.0")).unwrap();
    let err = refused(&policy(&key)).to_string();
    assert!(
        err.contains(&stranger.public().key_id())
            && err.contains(&format!(
                "it trusts release-2023 ({})",
                key.public().key_id()
            )),
        "{err}"
    );

    // A manifest edited after signing (generation changed to get past the target check).
    sign_file(&img, &key, "fridge-ctl", "gen3", &v("2.1.0")).unwrap();
    let mut m = Manifest::read(&manifest_path(&img)).unwrap().unwrap();
    m.generation = "gen2".into();
    m.write(&manifest_path(&img)).unwrap();
    assert!(matches!(
        refused(&policy(&key)),
        ImageError::BadSignature { .. }
    ));

    // Honestly signed for another generation.
    sign_file(&img, &key, "fridge-ctl", "gen3", &v("2.1.0")).unwrap();
    let err = refused(&policy(&key)).to_string();
    assert!(
        err.ends_with("is for fridge-ctl/gen3, not fridge-ctl/gen2"),
        "{err}"
    );

    // Below the anti-rollback floor.
    sign_file(&img, &key, "fridge-ctl", "gen2", &v("1.9.9")).unwrap();
    let err = refused(&policy(&key)).to_string();
    assert!(
        err.contains("version 1.9.9, below gen2's anti-rollback floor 2.0.0"),
        "{err}"
    );

    // One byte of the image changed after signing.
    sign_file(&img, &key, "fridge-ctl", "gen2", &v("2.1.0")).unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&img, &bytes).unwrap();
    let err = refused(&policy(&key));
    assert!(
        matches!(
            err,
            ImageError::Mismatch {
                what: "sha-256",
                ..
            }
        ),
        "{err}"
    );

    // A truncated image.
    std::fs::write(&img, &bytes[..1000]).unwrap();
    let err = refused(&policy(&key)).to_string();
    assert!(
        err.contains("size is 1000, the manifest says 4096"),
        "{err}"
    );
}

#[test]
fn a_broken_manifest_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let img = image(dir.path());
    sign_file(&img, &key, "fridge-ctl", "gen2", &v("2.1.0")).unwrap();
    let path = manifest_path(&img);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"2.1.0\"", "\"two\"")).unwrap();
    let err = verify_file(&policy(&key), &img).unwrap_err().to_string();
    assert!(err.contains(".manifest.json: version: "), "{err}");
}

#[test]
fn a_generation_that_does_not_require_signing_takes_an_unsigned_image() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path());
    let mut p = policy(&SecretKey::generate());
    p.required = false;
    let ok = verify_file(&p, &img).unwrap();
    assert_eq!((ok.version, ok.signer), (None, None));
}
