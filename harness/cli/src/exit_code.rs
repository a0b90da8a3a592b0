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
/// The store cannot be opened or written: the footprint cannot be kept (not the rig's fault).
pub const STORE: i32 = 6;
/// The scenario or what it names is wrong at run time: a missing image, a build the profile does
/// not trust, a capture that is not a number (not the rig's fault, not the unit's).
pub const SCENARIO: i32 = 7;
/// The central store cannot be reached, refused the login, or is of another schema version
/// (the station store keeps everything; nothing is lost).
pub const CENTRAL: i32 = 8;

/// The table printed by `rigor --help`.
pub const TABLE: &str = "\
Exit codes:
  0  success: everything checked or ran, and passed
  1  a unit failed a test
  2  usage error
  3  invalid input: a YAML file is invalid or a scenario does not bind
  4  infrastructure error: the rig failed (port, instrument, probe)
  5  aborted: interrupted, teardown done, recorded as aborted
  6  store error: the store cannot be opened or written
  7  scenario error at run time: a missing image, an untrusted build
  8  central store error: unreachable, login refused, or another schema version";

/// The code for an error that kept a run from starting or from being recorded.
pub fn of_error(kind: rigor_station::ErrorKind) -> i32 {
    match kind {
        rigor_station::ErrorKind::Usage => USAGE,
        rigor_station::ErrorKind::InvalidInput => INVALID_INPUT,
        rigor_station::ErrorKind::Infrastructure => INFRASTRUCTURE,
        rigor_station::ErrorKind::Store => STORE,
    }
}

/// Prints `error` with its chain of causes (the OS's or SQLite's reason is what a technician
/// needs) and returns its code.
pub fn report(error: &rigor_station::StationError) -> i32 {
    eprintln!("error: {}", chain(error));
    of_error(error.kind())
}

pub use rigor_station::chain;

/// The code of one slot's run.
pub fn of_slot(
    slot: &str,
    result: &Result<rigor_runner::engine::RunResult, rigor_station::SlotError>,
) -> i32 {
    use rigor_runner::event::{FailureClass, RunOutcome};
    match result {
        Ok(r) => match (r.outcome, r.class) {
            (RunOutcome::Pass, _) => SUCCESS,
            (RunOutcome::Fail, _) => TEST_FAILED,
            (RunOutcome::Error, Some(FailureClass::Scenario)) => SCENARIO,
            (RunOutcome::Error, _) => INFRASTRUCTURE,
            (RunOutcome::Aborted, _) => ABORTED,
        },
        Err(e) => {
            eprintln!("error: slot `{slot}`: {}", chain(e));
            match e {
                rigor_station::SlotError::Run(rigor_runner::engine::RunError::Record(_)) => STORE,
                _ => INFRASTRUCTURE,
            }
        }
    }
}

/// The code that matters most when slots differ: aborted, the store, the rig, the scenario,
/// then a failed unit.
pub fn worst(a: i32, b: i32) -> i32 {
    let rank = |c| match c {
        ABORTED => 6,
        STORE => 5,
        INFRASTRUCTURE => 4,
        SCENARIO => 3,
        TEST_FAILED => 2,
        _ => 1,
    };
    if rank(b) > rank(a) { b } else { a }
}
