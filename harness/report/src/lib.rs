//! Outputs of runs, each a subscriber to the engine's events: JUnit for CI, JSON lines for
//! scripts, progress lines for people at a terminal or reading a CI log.

#[cfg(test)]
mod events;
pub mod json_lines;
pub mod junit;
pub mod progress;

pub use json_lines::JsonLines;
pub use junit::JunitWriter;
pub use progress::Progress;
