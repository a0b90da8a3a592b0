//! Outputs of runs, each a subscriber to the engine's events: JUnit for CI, JSON lines for scripts.

pub mod json_lines;
pub mod junit;

pub use json_lines::JsonLines;
pub use junit::JunitWriter;
