//! Issue 9's kill -9 campaign: `rigor run` on the virtual bench is killed at seeded random
//! moments, from the first 50 ms (the store being created, the bench starting) to the middle of
//! the steps, again and again on the same stores. After every kill: the store passes SQLite's
//! integrity check, every step the JSON-lines output reported is stored, the unit's attempts have
//! no gaps, nothing of the run's process group survives, and the next run takes the slot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{rigor, text};

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills in all; each store gets `PER_STORE` of them, then one run to the end.
const KILLS: u64 = 20;
const PER_STORE: u64 = 5;
/// The campaign's seed: a failure names its kill, and the same seed replays it.
const SEED: u64 = 0x9_0004;
/// How long one run may take to print what the kill waits for, or to finish.
const RUN: Duration = Duration::from_secs(60);
/// How long the killed run's process group may take to be gone (reaped by init).
const GONE: Duration = Duration::from_secs(10);
const SERIAL: &str = "FC2-000950";

/// splitmix64: the test needs only a seeded, reproducible sequence, not a random-number crate.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// When a run is killed.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after it was started: while it loads its files and starts the bench.
    Early(Duration),
    /// This long after its store file appeared: while the store is being created.
    Creating(Duration),
    /// Once it has reported this many finished steps.
    AfterSteps(usize),
}

fn run_command(dir: &Path, store: &Path) -> std::process::Command {
    let mut cmd = rigor();
    cmd.args(["run", "--rig", "virtual-bench", "--scenario", "smoke"])
        .args(["--slot", "slot1", "--unit", SERIAL])
        .args(["--profile", "fridge-ctl-gen2", "--format", "json"])
        .arg("--firmware")
        .arg(dir.join("fw"))
        .arg("--store")
        .arg(store)
        .env("XDG_RUNTIME_DIR", dir)
        .env("TMPDIR", dir.join("tmp"))
        // Its own process group, so whatever it started can be found after it is killed.
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Runs rigor and kills it at `moment`; returns the steps it reported as `slot label attempt`
/// and whether it was still running when killed.
fn run_and_kill(dir: &Path, store: &Path, moment: Moment) -> (Vec<String>, bool) {
    let started = Instant::now();
    let mut child = run_command(dir, store).spawn().unwrap();
    let pid = child.id();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut steps = Vec::new();
    let moment = match moment {
        Moment::Creating(after) => {
            // Polls for the file with a deadline; the kill is then timed from its appearance.
            while !store.exists() {
                assert!(started.elapsed() < RUN, "no store within {RUN:?}");
                std::thread::sleep(Duration::from_millis(1));
            }
            Moment::Early(started.elapsed() + after)
        }
        other => other,
    };
    let note = |line: &str, steps: &mut Vec<String>| {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["event"] == "step-finished" {
            steps.push(format!(
                "{} {} {}",
                event["slot"].as_str().unwrap(),
                event["label"].as_str().unwrap(),
                event["attempt"]
            ));
        }
    };
    // Read what it prints until the moment comes (or it ends by itself).
    let ended = loop {
        let wait = match moment {
            Moment::Early(after) => match after.checked_sub(started.elapsed()) {
                Some(left) => left,
                None => break false,
            },
            Moment::AfterSteps(n) if steps.len() >= n => break false,
            Moment::AfterSteps(_) | Moment::Creating(_) => RUN.saturating_sub(started.elapsed()),
        };
        match lines.recv_timeout(wait) {
            Ok(line) => note(&line, &mut steps),
            Err(mpsc::RecvTimeoutError::Timeout) if !matches!(moment, Moment::AfterSteps(_)) => {
                break false;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no step within {RUN:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => break true,
        }
    };
    let was_running = child.try_wait().unwrap().is_none() && !ended;
    child.kill().unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    // What it printed before it died is reported too.
    for line in lines.try_iter() {
        note(&line, &mut steps);
    }
    assert_group_gone(pid);
    if !was_running {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            status.success(),
            "a run that ended by itself failed ({status}): {stderr}"
        );
    }
    (steps, was_running)
}

/// Nothing of the killed run's process group is left (a bench server, a pty holder).
fn assert_group_gone(pgid: u32) {
    let deadline = Instant::now() + GONE;
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its `)`.
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                after.split_whitespace().nth(2) == Some(&pgid.to_string())
            })
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(20)); // polling a condition with a deadline
    }
}

/// What a killed run must leave: an intact store holding every reported step, attempts 1..n.
fn assert_store_consistent(store: &Path, printed: &[String], kill: u64, moment: Moment) {
    if !store.exists() {
        assert!(
            printed.is_empty(),
            "kill {kill} ({moment:?}): steps reported, no store"
        );
        return;
    }
    let db = rusqlite::Connection::open(store).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "kill {kill} ({moment:?})");
    let has_runs: bool = db
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'runs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if !has_runs {
        assert!(
            printed.is_empty(),
            "kill {kill} ({moment:?}): steps reported, no schema"
        );
        return;
    }
    let strings = |sql: &str| -> Vec<String> {
        db.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let stored = strings(
        "SELECT r.slot || ' ' || s.step_id || ' ' || s.attempt FROM steps s JOIN runs r ON r.id = s.run_id
         WHERE r.id = (SELECT max(id) FROM runs)",
    );
    for step in printed {
        assert!(
            stored.contains(step),
            "kill {kill} ({moment:?}): {step} was reported but is not stored: {stored:?}"
        );
    }
    let attempts: Vec<i64> = db
        .prepare("SELECT attempt FROM runs WHERE unit_serial = ?1 ORDER BY attempt")
        .unwrap()
        .query_map([SERIAL], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<i64> = (1..=attempts.len() as i64).collect();
    assert_eq!(
        attempts, expected,
        "kill {kill} ({moment:?}): attempts with gaps"
    );
}

#[test]
fn twenty_kills_at_random_moments_leave_every_store_consistent_and_the_slot_free() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    rigor_bench::firmware::write_build(&dir.path().join("fw"), "fridge-ctl", "gen2", "2.1.0")
        .unwrap();
    let mut rng = Seeded(SEED);
    let mut killed_mid_run = 0;
    for kill in 0..KILLS {
        let store = dir.path().join(format!("store-{}.db", kill / PER_STORE));
        // Each store's first run dies while it is being created; the others at any moment.
        let moment = if kill % PER_STORE == 0 {
            Moment::Creating(Duration::from_millis(rng.below(50)))
        } else if rng.below(4) == 0 {
            Moment::Early(Duration::from_millis(rng.below(50)))
        } else {
            Moment::AfterSteps(rng.below(12) as usize)
        };
        let (printed, was_running) = run_and_kill(dir.path(), &store, moment);
        killed_mid_run += u32::from(was_running);
        // Shown when the test fails: what each kill hit.
        eprintln!(
            "kill {kill}: {moment:?}, {} steps reported, store {}",
            printed.len(),
            if store.exists() { "present" } else { "absent" }
        );
        assert_store_consistent(&store, &printed, kill, moment);
        if kill % PER_STORE == PER_STORE - 1 {
            // The slot is free and the store takes a whole run after all those kills.
            let out = run_command(dir.path(), &store).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            assert_store_consistent(&store, &[], kill, moment);
            let ends = common::rows(&store, "SELECT outcome FROM run_ends");
            assert_eq!(ends.last().map(String::as_str), Some("pass"), "{ends:?}");
        }
    }
    // The campaign killed runs, not runs that had already ended.
    assert!(
        killed_mid_run >= KILLS as u32 - 2,
        "{killed_mid_run} of {KILLS}"
    );
}
