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
