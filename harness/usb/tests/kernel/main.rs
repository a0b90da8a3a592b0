//! USB discovery and the serial console's reopen-by-identity against real USB devices: configfs
//! gadgets on dummy_hcd in the Debian kernel guest (`.ci/kernel-tests` builds this for
//! `x86_64-unknown-linux-musl` and boots the guest as cargo's runner). On the host this test
//! binary is empty rather than failing or pretending.
#![cfg(target_env = "musl")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod console;
mod discovery;
mod gadget;
mod hub;
#[cfg(feature = "libusb")]
mod libusb;

use std::path::PathBuf;
use std::sync::Mutex;

use rigor_model::rig::Rig;

/// The gadgets' identities are rack-a's, so one test at a time plugs them.
pub static USB: Mutex<()> = Mutex::new(());

/// `rigs/rack-a.yaml`, loaded with the shipped profiles and fixtures as `rigor check` does. The
/// guest mounts the workspace read-only at its host path.
pub fn rack_a() -> Rig {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let paths: Vec<PathBuf> = ["device-profiles", "rigs", "fixtures"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    let (catalog, diags) = rigor_model::load_paths(&paths);
    assert!(diags.is_empty(), "{diags}");
    catalog.rigs.get("rack-a").expect("rack-a").value.clone()
}
