//! The unit's flash as its bootloader sees it: two application slots (A and B), which one is
//! committed, a trial of a newly installed slot with a boot counter, the anti-rollback counter,
//! and a download's progress, all kept across power cuts (the `State` lives as long as the unit).
//!
//! The bootloader boots a slot on trial while its counter lasts, each boot taking one; the new
//! image commits itself once its health check passes. A counter run out (an image that crashes
//! on every boot) or a failed health check puts the committed slot back: a unit never bricks,
//! unless it carries the `bricks-on-power-cut` fault, whose update client switches slots before
//! the new image is whole.

use crate::firmware::Header;
use crate::unit::State;

/// The slots' names, by index.
pub const SLOT_NAMES: [&str; 2] = ["A", "B"];

/// Boots a trial slot gets before the bootloader gives up on it.
pub(crate) const TRIAL_BOOTS: u32 = 3;

/// One application slot's content.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotContent {
    /// The image's header, once the image is whole.
    pub(crate) header: Option<Header>,
    /// The bytes written so far.
    pub(crate) bytes: Vec<u8>,
}

/// A slot booted on trial.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trial {
    pub(crate) slot: usize,
    pub(crate) boots_left: u32,
}

/// A download in progress, kept in flash so it resumes after a cut link or a power cut.
#[derive(Debug, Clone)]
pub(crate) struct Download {
    /// The manifest's SHA-256 of the image: a new offer starts again.
    pub(crate) sha256: String,
    /// Bytes of it written into the inactive slot.
    pub(crate) written: u64,
}

/// The unit's flash.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flash {
    pub(crate) slots: [SlotContent; 2],
    /// The committed slot.
    pub(crate) active: usize,
    pub(crate) trial: Option<Trial>,
    /// The slot running now (or last run).
    pub(crate) running: usize,
    /// The lowest version the unit accepts: the highest it has committed.
    pub(crate) anti_rollback: Option<semver::Version>,
    pub(crate) download: Option<Download>,
    /// What the bootloader says once the committed slot runs again after a trial failed.
    pub(crate) rolled_back: Option<String>,
}

impl Flash {
    /// The probe wrote `header`'s image into slot A and made it the committed one (a factory
    /// flash resets the update state too).
    pub(crate) fn write_by_probe(&mut self, header: Header, bytes: Vec<u8>) {
        *self = Flash {
            anti_rollback: header.version.parse().ok(),
            ..Flash::default()
        };
        self.slots[0] = SlotContent {
            header: Some(header),
            bytes,
        };
    }

    /// The slot an update goes into.
    pub(crate) fn inactive(&self) -> usize {
        1 - self.active
    }
}

impl State {
    /// The bootloader at power-on: picks the slot to boot and takes a boot from a trial's
    /// counter. `None`: nothing bootable (a blank unit, or one bricked mid-write).
    pub(crate) fn boot_image(&mut self) -> Option<Header> {
        let flash = &mut self.flash;
        if let Some(trial) = flash.trial.as_mut() {
            if trial.boots_left > 0 && flash.slots[trial.slot].header.is_some() {
                trial.boots_left -= 1;
                flash.running = trial.slot;
            } else {
                let slot = trial.slot;
                flash.trial = None;
                flash.rolled_back = Some(format!(
                    "slot {} did not come up in {TRIAL_BOOTS} boots",
                    SLOT_NAMES[slot]
                ));
                flash.running = flash.active;
            }
        } else {
            flash.running = flash.active;
        }
        self.firmware = flash.slots[flash.running].header.clone();
        self.firmware.clone()
    }

    /// Whether the unit runs a slot on trial (its health check has not passed yet).
    pub(crate) fn on_trial(&self) -> bool {
        self.flash
            .trial
            .is_some_and(|t| t.slot == self.flash.running)
    }

    /// The health check passed: the running trial slot becomes the committed one.
    pub(crate) fn commit(&mut self) -> String {
        let flash = &mut self.flash;
        flash.trial = None;
        flash.active = flash.running;
        let header = flash.slots[flash.running].header.clone();
        let version = header
            .as_ref()
            .map_or("?", |h| h.version.as_str())
            .to_owned();
        flash.anti_rollback = version.parse().ok().max(flash.anti_rollback.take());
        format!(
            "ota: committed slot {} fw {version}",
            SLOT_NAMES[flash.running]
        )
    }

    /// The health check failed: the trial ends, and the next boot is the committed slot's.
    pub(crate) fn abandon_trial(&mut self, why: &str) {
        let flash = &mut self.flash;
        flash.trial = None;
        flash.rolled_back = Some(why.to_owned());
    }

    /// What `ota status` prints.
    pub(crate) fn ota_status(&self) -> String {
        let flash = &self.flash;
        let version = self
            .firmware
            .as_ref()
            .map_or("none", |h| h.version.as_str());
        // Between a failed health check and the reboot it causes, the slot running is neither
        // on trial nor the committed one.
        let state = if self.on_trial() {
            "trial"
        } else if flash.running == flash.active {
            "committed"
        } else {
            "rolling-back"
        };
        let mut out = format!(
            "ota: running slot {} fw {version} {state}",
            SLOT_NAMES[flash.running]
        );
        if let Some(d) = &flash.download {
            out.push_str(&format!(", download at byte {}", d.written));
        }
        out
    }
}
