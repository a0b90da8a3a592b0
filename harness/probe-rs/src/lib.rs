//! Flashing through probe-rs as a library: the probe chosen by the rig's selector
//! (`VID:PID[:SERIAL]`), the chip named by the device profile, ELF, Intel HEX or a binary at its
//! base address written with probe-rs's flash algorithms, verified if asked, then the core reset.
//!
//! What was verified here, and how: this machine has no debug probe. Choosing the probe (and
//! saying which are attached when none matches), checking the chip name against probe-rs's
//! target database before any probe is touched, and attaching a session through probe-rs's own
//! `FakeProbe` are tested. Writing flash cannot be exercised: `FakeProbe` attaches but does not
//! implement memory writes, so the download path (`FlashLoader::commit`) is verified only by
//! type-checking against probe-rs 0.32.

use std::io::Cursor;
use std::sync::Arc;

use probe_rs::config::Registry;
use probe_rs::flashing::{BinLoader, ElfLoader, HexLoader};
use probe_rs::flashing::{BinOptions, DownloadOptions, ElfOptions, FlashLoader};
use probe_rs::probe::DebugProbeSelector;
use probe_rs::probe::list::Lister;
use probe_rs::{Permissions, Session};
use rigor_hal::{FirmwareImage, FlashReport, Flasher, HalError, ImageFormat, async_trait};

/// Why probe-rs could not flash.
#[derive(Debug, thiserror::Error)]
pub enum ProbeRsError {
    /// The rig's selector does not parse.
    #[error(
        "`{selector}` is not a probe selector: {reason} (write VID:PID or VID:PID:SERIAL, hex ids)"
    )]
    BadSelector {
        /// What the rig says.
        selector: String,
        /// What probe-rs said.
        reason: String,
    },
    /// probe-rs does not know the chip the profile names.
    #[error("probe-rs knows no chip `{chip}`{}", suggest(.similar))]
    UnknownChip {
        /// The profile's chip name.
        chip: String,
        /// Names probe-rs knows that start the same.
        similar: Vec<String>,
    },
    /// No attached probe matches.
    #[error("no debug probe matches {wanted}; attached: {}", list(.attached))]
    NoProbe {
        /// The selector, or "any probe".
        wanted: String,
        /// What is attached.
        attached: Vec<String>,
    },
    /// The probe would not open or attach to the chip.
    #[error("attaching to {chip} through {probe}: {reason}")]
    Attach {
        /// The chip.
        chip: String,
        /// The probe.
        probe: String,
        /// What probe-rs said.
        reason: String,
    },
    /// Loading, writing, verifying or resetting failed.
    #[error("flashing {image}: {reason}")]
    Flash {
        /// The image.
        image: String,
        /// What probe-rs said.
        reason: String,
    },
}

fn suggest(similar: &[String]) -> String {
    match similar {
        [] => String::new(),
        some => format!("; similar: {}", some.join(", ")),
    }
}

fn list(attached: &[String]) -> String {
    if attached.is_empty() {
        "none".to_owned()
    } else {
        attached.join(", ")
    }
}

impl From<ProbeRsError> for HalError {
    fn from(e: ProbeRsError) -> Self {
        let text = e.to_string();
        match e {
            ProbeRsError::NoProbe { wanted, .. } => HalError::Disconnected {
                what: format!("the debug probe {wanted}"),
                source: Some(std::io::Error::other(text)),
            },
            ProbeRsError::BadSelector { .. } | ProbeRsError::UnknownChip { .. } => {
                HalError::Misconfigured {
                    what: "the probe-rs flasher".to_owned(),
                    reason: text,
                }
            }
            ProbeRsError::Attach { .. } => HalError::Io {
                what: "the debug probe".to_owned(),
                source: std::io::Error::other(text),
            },
            ProbeRsError::Flash { .. } => HalError::Refused {
                what: "flashing through probe-rs".to_owned(),
                reason: text,
            },
        }
    }
}

/// Makes the probe lister; a function, because a lister may not cross threads and flashing runs
/// on a blocking thread.
type MakeLister = Arc<dyn Fn() -> Lister + Send + Sync>;

/// A flasher on a debug probe through probe-rs.
#[derive(Clone)]
pub struct ProbeRsFlasher {
    selector: Option<DebugProbeSelector>,
    chip: String,
    lister: MakeLister,
}

impl ProbeRsFlasher {
    /// A flasher for `chip` (probe-rs's name, from the profile) on the probe `selector` picks,
    /// or the only one attached. Checks both names before any probe is touched.
    pub fn new(selector: Option<&str>, chip: &str) -> Result<Self, ProbeRsError> {
        let selector = selector
            .map(|s| {
                s.parse::<DebugProbeSelector>()
                    .map_err(|e| ProbeRsError::BadSelector {
                        selector: s.to_owned(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        let registry = Registry::from_builtin_families();
        if registry.get_target_by_name(chip).is_err() {
            // The longest prefix of the name that some chips share, for the suggestion.
            let chars: Vec<char> = chip.chars().collect();
            let mut similar = (4..chars.len())
                .rev()
                .map(|n| registry.search_chips(&chars[..n].iter().collect::<String>()))
                .find(|found| !found.is_empty())
                .unwrap_or_default();
            similar.truncate(5);
            return Err(ProbeRsError::UnknownChip {
                chip: chip.to_owned(),
                similar,
            });
        }
        Ok(ProbeRsFlasher {
            selector,
            chip: chip.to_owned(),
            lister: Arc::new(Lister::new),
        })
    }

    /// Uses probes from `lister` instead of the attached ones (tests, custom probe drivers).
    pub fn with_lister(mut self, lister: impl Fn() -> Lister + Send + Sync + 'static) -> Self {
        self.lister = Arc::new(lister);
        self
    }

    /// Opens the probe and attaches to the chip.
    pub fn attach(&self) -> Result<Session, ProbeRsError> {
        let lister = (self.lister)();
        let wanted = self
            .selector
            .as_ref()
            .map_or_else(|| "any probe".to_owned(), ToString::to_string);
        let found = lister.list(self.selector.as_ref());
        let info = match found.as_slice() {
            [one] => one.clone(),
            _ => {
                let attached = lister
                    .list_all()
                    .iter()
                    .map(|p| format!("{} ({})", p.identifier, DebugProbeSelector::from(p)))
                    .collect();
                let wanted = if found.len() > 1 {
                    format!("{wanted} alone (several match: give the serial number)")
                } else {
                    wanted
                };
                return Err(ProbeRsError::NoProbe { wanted, attached });
            }
        };
        let probe = info.open().map_err(|e| ProbeRsError::Attach {
            chip: self.chip.clone(),
            probe: info.identifier.clone(),
            reason: e.to_string(),
        })?;
        probe
            .attach(self.chip.as_str(), Permissions::default())
            .map_err(|e| ProbeRsError::Attach {
                chip: self.chip.clone(),
                probe: info.identifier.clone(),
                reason: e.to_string(),
            })
    }

    fn download(&self, image: &FirmwareImage, verify: bool) -> Result<FlashReport, ProbeRsError> {
        let fail = |reason: String| ProbeRsError::Flash {
            image: image.name.clone(),
            reason,
        };
        let mut session = self.attach()?;
        let mut loader: FlashLoader = session.target().flash_loader();
        let mut file = Cursor::new(image.bytes.to_vec());
        let loaded = match image.format {
            ImageFormat::Elf => loader.load_image(
                &mut session,
                &mut file,
                ElfLoader(ElfOptions::default()),
                None,
            ),
            ImageFormat::Hex => loader.load_image(&mut session, &mut file, HexLoader, None),
            ImageFormat::Bin => {
                let base_address = image.base_address.ok_or_else(|| {
                    fail(
                        "a raw binary needs a base address (the profile's flash base-address)"
                            .into(),
                    )
                })?;
                loader.load_image(
                    &mut session,
                    &mut file,
                    BinLoader(BinOptions {
                        base_address: Some(base_address),
                        skip: 0,
                    }),
                    None,
                )
            }
        };
        loaded.map_err(|e| fail(e.to_string()))?;
        let mut options = DownloadOptions::default();
        options.verify = verify;
        loader
            .commit(&mut session, options)
            .map_err(|e| fail(e.to_string()))?;
        session
            .core(0)
            .and_then(|mut core| core.reset())
            .map_err(|e| fail(format!("resetting after the download: {e}")))?;
        Ok(FlashReport {
            bytes_written: image.bytes.len(),
            verified: verify,
        })
    }
}

#[async_trait]
impl Flasher for ProbeRsFlasher {
    async fn flash(
        &mut self,
        image: &FirmwareImage,
        verify: bool,
    ) -> Result<FlashReport, HalError> {
        // probe-rs is blocking; a panic inside it (its fake probe's unwritten paths) is an error
        // of this flash, not of the whole run.
        let this = self.clone();
        let image = image.clone();
        match tokio::task::spawn_blocking(move || this.download(&image, verify)).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(HalError::Unsupported {
                what: format!("flashing ({e})"),
                backend: "this probe-rs probe".to_owned(),
            }),
        }
    }

    async fn reset(&mut self) -> Result<(), HalError> {
        let this = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut session = this.attach()?;
            session
                .core(0)
                .and_then(|mut core| core.reset())
                .map_err(|e| ProbeRsError::Flash {
                    image: "-".to_owned(),
                    reason: format!("reset: {e}"),
                })
        })
        .await;
        match result {
            Ok(r) => Ok(r?),
            Err(e) => Err(HalError::Unsupported {
                what: format!("reset ({e})"),
                backend: "this probe-rs probe".to_owned(),
            }),
        }
    }
}
