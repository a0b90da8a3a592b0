//! Virtual firmware images: a text header naming family, generation and version, then a payload.
//!
//! ```text
//! RIGOR-FW 1
//! family: fridge-ctl
//! generation: gen2
//! version: 2.1.0
//!
//! <payload>
//! ```
//!
//! The simulated unit takes an image only for its own generation, and its version decides how it
//! behaves: build 2.1.1 of gen2 shipped with a sensor scaling bug (it reports twice the
//! temperature), which the smoke scenario's `firmware_temp` measurement catches.

/// The versions with the temperature scaling bug.
pub const TEMPERATURE_BUG: &[&str] = &["2.1.1"];

/// The versions whose update client commits a new image before its health check (it marks the
/// new slot committed as soon as the download verifies): an image that then fails its health
/// check is never rolled back. The `ota-update` scenario catches them.
pub const COMMITS_BEFORE_HEALTH_CHECK: &[&str] = &["2.1.3", "3.0.3"];

/// A build's defect that only shows after an update, named in its version's build metadata
/// (`3.1.0+fails-selftest`), so the image says what it is in every log.
const FAILS_SELFTEST: &str = "fails-selftest";
const CRASHES_ON_BOOT: &str = "crashes-on-boot";

/// What an image header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Product family.
    pub family: String,
    /// Generation.
    pub generation: String,
    /// Version.
    pub version: String,
}

impl Header {
    /// True for a build with the temperature scaling bug.
    pub fn has_temperature_bug(&self) -> bool {
        TEMPERATURE_BUG.contains(&self.version.as_str())
    }

    /// True for a build whose update client commits before the health check.
    pub fn commits_before_health_check(&self) -> bool {
        COMMITS_BEFORE_HEALTH_CHECK.contains(&self.version.as_str())
    }

    /// True for a build whose self-test fails (so its health check does).
    pub fn fails_selftest(&self) -> bool {
        self.build_metadata() == Some(FAILS_SELFTEST)
    }

    /// True for a build that crashes shortly after every boot.
    pub fn crashes_on_boot(&self) -> bool {
        self.build_metadata() == Some(CRASHES_ON_BOOT)
    }

    fn build_metadata(&self) -> Option<&str> {
        self.version.split_once('+').map(|(_, b)| b)
    }
}

/// Builds an image for `generation` at `version`.
pub fn build_image(family: &str, generation: &str, version: &str) -> Vec<u8> {
    let mut out =
        format!("RIGOR-FW 1\nfamily: {family}\ngeneration: {generation}\nversion: {version}\n\n")
            .into_bytes();
    // A payload of a realistic size, so flashing moves real bytes.
    out.extend((0..32 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    out
}

/// Reads an image's header.
pub fn parse(bytes: &[u8]) -> Result<Header, String> {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no RIGOR-FW header")?;
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| "the header is not text")?;
    let mut lines = text.lines();
    if lines.next() != Some("RIGOR-FW 1") {
        return Err("not a RIGOR-FW 1 image".into());
    }
    let mut field = |name: &str| -> Result<String, String> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(": "))
            .map(str::to_owned)
            .ok_or_else(|| format!("the header lacks `{name}`"))
    };
    Ok(Header {
        family: field("family")?,
        generation: field("generation")?,
        version: field("version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_round_trip_and_garbage_is_refused() {
        let image = build_image("fridge-ctl", "gen2", "2.1.1");
        let h = parse(&image).unwrap();
        assert_eq!(
            h,
            Header {
                family: "fridge-ctl".into(),
                generation: "gen2".into(),
                version: "2.1.1".into()
            }
        );
        assert!(h.has_temperature_bug());
        assert_eq!(parse(b"\x7fELF...."), Err("no RIGOR-FW header".into()));
    }
}

/// The release key the demo signs a generation's builds with (gen1's profile checks no
/// signatures, but its manifest still states the version): derived from a public phrase, so
/// anyone can rebuild the demo's signatures. It guards nothing; never list it in a real profile.
pub fn demo_release_key(generation: &str) -> Option<rigor_image::SecretKey> {
    use sha2::Digest;
    let name = match generation {
        "gen1" => "build-2019",
        "gen2" => "release-2023",
        "gen3" => "release-2025",
        // The QEMU rig's board (fixtures/qemu-fridge-fw).
        "lm3s6965" => "release-qemu",
        _ => return None,
    };
    let seed: [u8; 32] = sha2::Sha256::digest(format!("rigor demo {name}")).into();
    Some(rigor_image::SecretKey::from_bytes(&seed))
}

/// Writes a build of `generation` at `version` into `dir` as `<family>-<generation>.elf`, with a
/// manifest signed by the demo's release key for the generation. Returns the image.
pub fn write_build(
    dir: &std::path::Path,
    family: &str,
    generation: &str,
    version: &str,
) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{family}-{generation}.elf"));
    std::fs::write(&path, build_image(family, generation, version))?;
    if let Some(key) = demo_release_key(generation) {
        let version = version.parse().map_err(std::io::Error::other)?;
        rigor_image::sign_file(&path, &key, family, generation, &version)
            .map_err(std::io::Error::other)?;
    }
    Ok(path)
}

#[cfg(test)]
mod demo_key_tests {
    #![allow(clippy::unwrap_used)]

    /// The profiles list these keys' public halves; this prints them when they must change.
    #[test]
    fn the_shipped_profiles_trust_the_demo_keys() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../device-profiles");
        for (generation, name, profile) in [
            ("gen2", "release-2023", "fridge-ctl-gen2"),
            ("gen3", "release-2025", "fridge-ctl-gen3"),
            ("lm3s6965", "release-qemu", "qemu-fridge"),
        ] {
            let public = super::demo_release_key(generation).unwrap().public();
            let text = std::fs::read_to_string(root.join(format!("{profile}.yaml"))).unwrap();
            assert!(
                text.contains(&format!("{name}: {public}")),
                "{profile} should trust {name}: {public}"
            );
        }
    }
}

/// The images an update test offers a unit running `version`, written by [`write_ota_builds`].
#[derive(Debug, Clone)]
pub struct OtaBuilds {
    /// The next release: a good update.
    pub next: std::path::PathBuf,
    /// An older release, still above the profile's floor: the unit's own anti-rollback refuses it.
    pub downgrade: std::path::PathBuf,
    /// A newer release whose self-test fails: its health check must roll it back.
    pub fails_selftest: std::path::PathBuf,
    /// A newer release that crashes on every boot: the boot counter must roll it back.
    pub crashes: std::path::PathBuf,
}

/// Writes, next to the build of `version`, the images an update test offers it, each signed by
/// the demo's release key: `<family>-<generation>-next.elf` (the next minor release),
/// `-downgrade.elf` (`<major>.0.0`), `-fails-selftest.elf` and `-crashes.elf` (the next minor
/// release, patch 1 and 2, with the defect in the build metadata).
pub fn write_ota_builds(
    dir: &std::path::Path,
    family: &str,
    generation: &str,
    version: &str,
) -> std::io::Result<OtaBuilds> {
    let v: semver::Version = version.parse().map_err(std::io::Error::other)?;
    let next = |patch: u64, defect: &str| {
        let mut n = semver::Version::new(v.major, v.minor + 1, patch);
        if !defect.is_empty() {
            n.build = semver::BuildMetadata::new(defect).unwrap_or_default();
        }
        n.to_string()
    };
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, version: String| -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(format!("{family}-{generation}-{name}.elf"));
        std::fs::write(&path, build_image(family, generation, &version))?;
        if let Some(key) = demo_release_key(generation) {
            let version = version.parse().map_err(std::io::Error::other)?;
            rigor_image::sign_file(&path, &key, family, generation, &version)
                .map_err(std::io::Error::other)?;
        }
        Ok(path)
    };
    Ok(OtaBuilds {
        next: write("next", next(0, ""))?,
        downgrade: write("downgrade", format!("{}.0.0", v.major))?,
        fails_selftest: write("fails-selftest", next(1, FAILS_SELFTEST))?,
        crashes: write("crashes", next(2, CRASHES_ON_BOOT))?,
    })
}
