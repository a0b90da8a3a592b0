//! A rigor stand-in to kill: this test binary run again on one of its ignored tests, which
//! says on stdout when it holds what the test wants killed, then waits for the signal.

use std::io::{BufRead, BufReader, Lines};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Runs the ignored test `test` of this binary with `env` set, to its end, and fails unless it
/// ran and passed.
pub fn run_ignored(test: &str, env: &[(&str, &str)]) -> Output {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--ignored", "--test-threads=1"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    // A filter that matched nothing also succeeds.
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{out:?}"
    );
    out
}

/// The running child; dropping it unkilled kills it, so a failed test leaves no holder behind.
pub struct Holder {
    child: Option<Child>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Holder {
    /// Runs the ignored test `test` of this binary with `env` set.
    pub fn spawn(test: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            // Its panic, if it fails before it is ready, is the test's diagnosis.
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child: Some(child),
            lines,
        }
    }

    /// Waits for the child's line holding `tag` and returns what follows the tag; fails if the
    /// child ends first.
    pub fn wait_for(&mut self, tag: &str) -> String {
        self.lines
            .by_ref()
            .map(Result::unwrap)
            // libtest prints the test's name on the same line, before it.
            .find_map(|l| l.split_once(tag).map(|(_, rest)| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("the holder ended before saying {tag:?}"))
    }

    /// Sends SIGKILL and reaps the child: from then on its pid names no live owner (a zombie's
    /// `/proc` entry would still), and is never signalled again.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status}");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
