//! The seam between rigor and hardware: small object-safe traits, typed errors that say whose fault
//! a failure is, and fakes (like probe-rs's `FakeProbe`) that other crates' tests drive.

pub mod error;
pub mod fake;
pub mod seam;

pub use async_trait::async_trait;
pub use error::{Blame, HalError};
pub use seam::{
    ConsolePort, DigitalLine, Edge, FirmwareImage, FlashReport, Flasher, I2cBus, ImageFormat,
    Impairment, Instrument, NetImpairment, Reading, Transition,
};
