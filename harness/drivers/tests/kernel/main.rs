//! The Linux backends against real kernel drivers: gpio-sim for the GPIO character device,
//! i2c-stub for i2c-dev. These run only inside the Debian kernel guest (`.ci/kernel-tests` builds
//! them for `x86_64-unknown-linux-musl` and boots the guest as cargo's runner), so on the host
//! this test binary is empty rather than failing or pretending.
#![cfg(target_env = "musl")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod gpio;
mod gpio_sim;
mod i2c;
mod rig;
