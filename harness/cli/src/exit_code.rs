//! rigor's exit codes. CI scripts and station software branch on them, so they never change meaning.
//! Every code is documented in `--help` and in the README.

/// Everything checked or ran, and passed.
pub const SUCCESS: i32 = 0;
/// A unit failed a test (a measurement outside its limits, an expectation not met).
pub const TEST_FAILED: i32 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: i32 = 2;
/// A rig, fixture, profile, instrument model or scenario file is invalid, or a scenario does not bind.
pub const INVALID_INPUT: i32 = 3;
/// The rig failed: a port vanished, an instrument did not answer, a probe was not found.
pub const INFRASTRUCTURE: i32 = 4;
/// The run was interrupted (Ctrl-C, SIGTERM); teardown ran and the run is recorded as aborted.
pub const ABORTED: i32 = 5;

/// The table printed by `rigor --help`.
pub const TABLE: &str = "\
Exit codes:
  0  success: everything checked or ran, and passed
  1  a unit failed a test
  2  usage error
  3  invalid input: a YAML file is invalid or a scenario does not bind
  4  infrastructure error: the rig failed (port, instrument, probe)
  5  aborted: interrupted, teardown done, recorded as aborted";
