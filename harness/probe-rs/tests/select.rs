//! Choosing the probe and the chip, and attaching through probe-rs's own fake probe. This machine
//! has no debug probe; writing flash through probe-rs is verified only by type-checking (its fake
//! probe does not implement memory writes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use probe_rs::probe::fake_probe::FakeProbe;
use probe_rs::probe::list::{Lister, ProbeListItem, ProbeLister};
use probe_rs::probe::{DebugProbeError, DebugProbeInfo, DebugProbeSelector, Probe};
use rigor_hal::{Blame, HalError};
use rigor_probe_rs::ProbeRsFlasher;

#[test]
fn a_chip_probe_rs_does_not_know_is_refused_before_any_probe_is_touched() {
    // A typo in the family letter: probe-rs matches names loosely, but not this.
    let err = ProbeRsFlasher::new(None, "STM32X030C8Tx").err().unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with("probe-rs knows no chip `STM32X030C8Tx`; similar: STM32"),
        "{text}"
    );
    assert!(matches!(
        HalError::from(err),
        HalError::Misconfigured { .. }
    ));
}

#[test]
fn a_selector_that_does_not_parse_says_what_to_write() {
    let err = ProbeRsFlasher::new(Some("stlink-1"), "STM32F030C8Tx")
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("write VID:PID or VID:PID:SERIAL"),
        "{err}"
    );
}

#[test]
fn with_no_matching_probe_attached_the_error_lists_what_is_attached() {
    let flasher = ProbeRsFlasher::new(Some("0483:374b:066DFF555"), "STM32F030C8Tx")
        .unwrap()
        .with_lister(|| Lister::with_lister(Box::new(OneFake)));
    let err = flasher.attach().err().unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "no debug probe matches 0483:374b:066DFF555; attached: fake (1209:0001:FAKE1)"
        ),
        "{text}"
    );
    assert_eq!(HalError::from(err).blame(), Blame::Rig);
}

#[test]
fn the_selected_probe_attaches_to_the_profiles_chip() {
    let flasher = ProbeRsFlasher::new(Some("1209:0001:FAKE1"), "STM32F030C8Tx")
        .unwrap()
        .with_lister(|| Lister::with_lister(Box::new(OneFake)));
    // probe-rs's fake probe runs the real attach sequence against a mocked Cortex-M core.
    let session = flasher.attach().unwrap();
    assert_eq!(session.target().name, "STM32F030C8Tx");
}

/// A lister with one fake probe on it.
#[derive(Debug)]
struct OneFake;

fn fake_info() -> DebugProbeInfo {
    DebugProbeInfo::new(
        "fake",
        0x1209,
        0x0001,
        Some("FAKE1".into()),
        &FakeFactory,
        None,
        false,
    )
}

impl ProbeLister for OneFake {
    fn open(&self, selector: &DebugProbeSelector) -> Result<Probe, DebugProbeError> {
        if selector.matches_probe(&fake_info()) {
            Ok(FakeProbe::with_mocked_core().into_probe())
        } else {
            Err(DebugProbeError::ProbeCouldNotBeCreated(
                probe_rs::probe::ProbeCreationError::NotFound,
            ))
        }
    }
    fn list_with_access(&self, selector: Option<&DebugProbeSelector>) -> Vec<ProbeListItem> {
        let info = fake_info();
        if selector.is_none_or(|s| s.matches_probe(&info)) {
            vec![ProbeListItem::accessible(info)]
        } else {
            Vec::new()
        }
    }
}

#[derive(Debug)]
struct FakeFactory;

impl std::fmt::Display for FakeFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake")
    }
}

impl probe_rs::probe::ProbeFactory for FakeFactory {
    fn open(
        &self,
        _: &DebugProbeSelector,
    ) -> Result<Box<dyn probe_rs::probe::DebugProbe>, DebugProbeError> {
        Ok(Box::new(FakeProbe::with_mocked_core()))
    }
    fn list_probes(&self) -> Vec<ProbeListItem> {
        vec![ProbeListItem::accessible(fake_info())]
    }
}
