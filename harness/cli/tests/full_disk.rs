//! Regression (issue 9.1): when the store's disk fills up mid-run, the run stops with its
//! teardown (power off), the rest of its record goes to a spill file beside the store, the exit
//! message names that file, and the next run replays it into the store exactly once.
//!
//! The disk is a real 8 MiB tmpfs mounted for the test, filled while the run steps: this needs
//! root (or CAP_SYS_ADMIN), which CI has; elsewhere the test fails and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::{rigor, rows, text};

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SERIAL: &str = "FC2-000960";

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root for it: {}",
            text(&out)
        );
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` to the last byte; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x55u8; 4096];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    // Whatever a smaller write still fits, so not even a page is left.
    while let Ok(n) = file.write(&[0x55]) {
        if n == 0 {
            break;
        }
    }
    path
}

fn run(dir: &Path, store: &Path) -> Command {
    let mut cmd = rigor();
    cmd.args(["run", "--rig", "virtual-bench", "--scenario", "smoke"])
        .args(["--slot", "slot1", "--unit", SERIAL])
        .args(["--profile", "fridge-ctl-gen2", "--format", "json"])
        .arg("--firmware")
        .arg(dir.join("fw"))
        .arg("--store")
        .arg(store)
        .env("XDG_RUNTIME_DIR", dir);
    cmd
}

#[test]
fn a_full_disk_mid_run_spills_the_rest_of_the_record_and_the_next_run_replays_it_once() {
    let dir = tempfile::tempdir().unwrap();
    rigor_bench::firmware::write_build(&dir.path().join("fw"), "fridge-ctl", "gen2", "2.1.0")
        .unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), "8m");
    let store = disk.0.join("rigor.db");
    let spill = disk.0.join("rigor.db-spill");

    let mut child = run(dir.path(), &store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    let mut line = String::new();
    // The disk fills up once the run has reported two steps (and so recorded them).
    let mut filler = None;
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "step-finished" {
            printed.push(event["label"].as_str().unwrap().to_owned());
            if printed.len() == 2 && filler.is_none() {
                filler = Some(fill(&disk.0));
            }
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        filler.is_some(),
        "the run ended before its second step: {stderr}"
    );
    eprintln!("{stderr}"); // shown on failure, and with --nocapture
    // A store problem, not a failed rig: exit 6, and the message says where the record went.
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the rest of it is kept in {}, which the next run on this store replays into it",
            spill.display()
        )),
        "{stderr}"
    );
    assert!(spill.exists(), "{stderr}");
    // Only what was reported before the disk filled is in the store yet.
    let stored = rows(&store, "SELECT step_id FROM steps ORDER BY step_index");
    assert!(stored.len() >= 2 && stored.len() < 9, "{stored:?}");
    assert_eq!(&printed[..stored.len()], &stored[..]);

    // The disk has room again; the next run replays the spill before it begins.
    std::fs::remove_file(filler.unwrap()).unwrap();
    let kept = std::fs::read(&spill).unwrap();
    let next = run(dir.path(), &store).output().unwrap();
    assert_eq!(next.status.code(), Some(0), "{}", text(&next));
    assert!(!spill.exists());
    // It says so, in one line.
    let said = String::from_utf8_lossy(&next.stderr);
    let line = format!(
        "replayed the spill {} into the store: 1 run (",
        spill.display()
    );
    assert_eq!(said.matches(&line).count(), 1, "{said}");
    assert!(said.contains("1 run end), 0 refused\n"), "{said}");
    let first_run = |sql: &str| rows(&store, &sql.replace("RUN", "(SELECT min(id) FROM runs)"));
    let steps = first_run("SELECT step_id FROM steps WHERE run_id = RUN ORDER BY step_index");
    // Every step is on record now: the ones it skipped once it could not record, the
    // teardown's power-off, and the safe state it ended in.
    assert!(steps.len() > stored.len(), "{steps:?}");
    assert_eq!(&steps[..stored.len()], &stored[..]);
    let outcomes = first_run(
        "SELECT step_id || ' ' || outcome FROM steps WHERE run_id = RUN ORDER BY step_index",
    );
    assert!(
        outcomes.iter().any(|o| o.ends_with(" skipped")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[outcomes.len() - 2..],
        ["power pass", "safe-state pass"],
        "{outcomes:?}"
    );
    let ends = rows(&store, "SELECT outcome FROM run_summary ORDER BY run_id");
    assert_eq!(ends.len(), 2);
    assert_ne!(
        ends[0], "incomplete",
        "the first run's end came from the spill"
    );
    assert_eq!(ends[1], "pass");

    // A spill found again after its replay (rigor killed before removing it) adds nothing.
    std::fs::write(&spill, &kept).unwrap();
    let again = run(dir.path(), &store).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(!spill.exists());
    let after_first = first_run("SELECT CAST(count(*) AS TEXT) FROM steps WHERE run_id = RUN");
    assert_eq!(after_first, [steps.len().to_string()]);
    let runs = rows(&store, "SELECT CAST(count(*) AS TEXT) FROM runs");
    assert_eq!(runs, ["3"]);
}

/// A store deleted while rigor runs: SQLite would write on into the unlinked file. The run stops
/// with its teardown, the rest of the record is spilled beside where the store was, and the
/// message says the file is gone.
#[test]
fn a_store_deleted_mid_run_is_noticed_and_the_rest_of_the_record_spilled() {
    let dir = tempfile::tempdir().unwrap();
    rigor_bench::firmware::write_build(&dir.path().join("fw"), "fridge-ctl", "gen2", "2.1.0")
        .unwrap();
    let store = dir.path().join("rigor.db");
    let spill = dir.path().join("rigor.db-spill");
    let mut child = run(dir.path(), &store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut steps = 0;
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if line.contains("\"step-finished\"") {
            steps += 1;
            if steps == 2 {
                for suffix in ["", "-wal", "-shm"] {
                    let mut name = store.clone().into_os_string();
                    name.push(suffix);
                    let _ = std::fs::remove_file(name);
                }
            }
        }
        line.clear();
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(steps >= 2, "{stderr}");
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains(&format!("the store file {} is gone", store.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("kept in {}", spill.display())),
        "{stderr}"
    );
    let kept = std::fs::read_to_string(&spill).unwrap();
    assert!(
        kept.contains("\"safe-state\""),
        "the spill ends with the safe state: {kept}"
    );
}

/// Overwrites the b-tree page header of `table`'s root page in the store at `db` (checkpointed,
/// no WAL beside it) with an impossible page type, as a bad sector or a stray write would.
fn damage_root_page(db: &Path, table: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    let at = usize::try_from((root - 1) * page_size).unwrap();
    bytes[at..at + 8].fill(0xFF);
    std::fs::write(db, bytes).unwrap();
}

/// Regression (issue 9.1, a damaged b-tree page): the run stops at the first record the store
/// cannot take, with its teardown (power off); the rest of the record is kept in the spill; the
/// exit code is the store's; and the message gives SQLite's reason, names the damaged file and
/// says how to recover it. The next run refuses the store before it starts anything, and keeps
/// the spill.
#[test]
fn a_store_with_a_damaged_page_keeps_the_record_in_the_spill_and_says_how_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    rigor_bench::firmware::write_build(&dir.path().join("fw"), "fridge-ctl", "gen2", "2.1.0")
        .unwrap();
    let store = dir.path().join("rigor.db");
    let spill = dir.path().join("rigor.db-spill");
    drop(rigor_store::Store::open(&store).unwrap());
    damage_root_page(&store, "steps");

    let out = run(dir.path(), &store).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let damaged = format!(
        "the store {} is damaged (database disk image is malformed), so rigor cannot record \
         into it: keep a copy of it as it is, recover what SQLite can read with `sqlite3 {} \
         .recover > recovered.sql`, and record into a new store",
        store.display(),
        store.display()
    );
    assert!(stderr.contains(&damaged), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the record is incomplete in the store; the rest of it is kept in {}",
            spill.display()
        )),
        "{stderr}"
    );
    let kept: Vec<serde_json::Value> = std::fs::read_to_string(&spill)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // SQLite rolls the whole group back on a damaged page, so the group is kept as it was.
    assert_eq!(kept[0]["record"], "step", "{kept:?}");
    // Teardown ran to the safe state with the power off, and the run's end is kept too.
    let steps: Vec<String> = kept
        .iter()
        .filter(|r| r["record"] == "step")
        .map(|r| format!("{} {}", r["step"]["step_id"], r["step"]["outcome"]))
        .collect();
    assert!(
        steps.ends_with(&[
            "\"power\" \"pass\"".to_owned(),
            "\"safe-state\" \"pass\"".to_owned()
        ]),
        "{steps:?}"
    );
    // Regression: the end of a run that skipped its tests because it could not record them
    // said `pass`, and a replay would have put a passed unit into the store.
    let end = &kept.last().unwrap();
    assert_eq!(end["record"], "end", "{kept:?}");
    assert_eq!(end["end"]["outcome"], "error", "{end}");
    assert_eq!(end["end"]["failure_class"], "infrastructure", "{end}");

    // The next run is refused at the door, before any bench or backend, and the spill stays.
    let next = run(dir.path(), &store).output().unwrap();
    assert_eq!(next.status.code(), Some(6), "{}", text(&next));
    assert!(
        String::from_utf8_lossy(&next.stderr).contains(&damaged),
        "{}",
        text(&next)
    );
    assert!(next.stdout.is_empty(), "{}", text(&next));
    assert!(spill.exists());
}

/// Issue 9 (replay is visible): `rigor store replay` puts a spill into the store and says what
/// went in and what the store refused (exit 6 then: a person must look), and keeps the refused
/// records beside the store; with no spill it says there is nothing to replay.
#[test]
fn store_replay_says_what_it_replayed_and_what_it_refused() {
    use rigor_store::spill::{SpillFile, SpillRecord};
    use rigor_store::{
        RunEnd, RunOutcome, RunStart, ScenarioRef, StepOutcome, StepRecord, Timestamp, UnitIdentity,
    };

    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("rigor.db");
    let mut store = rigor_store::Store::open(&store_path).unwrap();
    let start = |serial: &str| RunStart {
        unit: UnitIdentity {
            serial: serial.into(),
            family: "fridge-ctl".into(),
            generation: "gen2".into(),
        },
        scenario: ScenarioRef {
            name: "smoke".into(),
            version: "3".into(),
            sha256: "a".repeat(64),
        },
        station: "eol-1".into(),
        rig: "virtual-bench".into(),
        slot: "slot1".into(),
        fixture: None,
        operator: "ana".into(),
        firmware: None,
        limits_sha256: "b".repeat(64),
        session: None,
        started_at: Timestamp(1),
    };
    let step = |index: u32, id: &str| StepRecord {
        index,
        step_id: id.into(),
        kind: "power".into(),
        attempt: 1,
        started_at: Timestamp(2),
        ended_at: Timestamp(3),
        outcome: StepOutcome::Pass,
        message: None,
    };
    let end = RunEnd {
        ended_at: Timestamp(4),
        outcome: RunOutcome::Error,
        failure_class: Some(rigor_store::FailureClass::Infrastructure),
        message: Some("stopped: the station could not record the run".into()),
    };
    let open = store.begin_run(&start(SERIAL)).unwrap().id;
    let sealed = store.begin_run(&start("FC2-000961")).unwrap().id;
    store.end_run(sealed, &end).unwrap();
    let mut spill = SpillFile::open(&store_path, store.station_id().unwrap()).unwrap();
    spill
        .append(&[
            SpillRecord::Step {
                run: open,
                step: step(0, "power"),
                measurements: Vec::new(),
            },
            SpillRecord::Refused {
                reason: "run 2 has already ended".into(),
                refused: Box::new(SpillRecord::Step {
                    run: sealed,
                    step: step(0, "power"),
                    measurements: Vec::new(),
                }),
            },
            SpillRecord::Step {
                run: open,
                step: step(1, "safe-state"),
                measurements: Vec::new(),
            },
            SpillRecord::End { run: open, end },
        ])
        .unwrap();
    drop(store);

    let replay = || {
        rigor()
            .args(["store", "replay", "--store"])
            .arg(&store_path)
            .output()
            .unwrap()
    };
    let out = replay();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stdout =
        String::from_utf8_lossy(&out.stdout).replace(&*dir.path().to_string_lossy(), "DIR");
    insta::assert_snapshot!(stdout, @r"
    replayed the spill DIR/rigor.db-spill into the store: 1 run (2 steps, 0 measurements, 0 artifacts, 1 run end), 1 refused (kept in DIR/rigor.db-refused)
      refused line 3: step 0 (`power`) of run 2: run 2 has already ended
    ");
    assert!(dir.path().join("rigor.db-refused").exists());
    let steps = rows(
        &store_path,
        "SELECT step_id FROM steps ORDER BY run_id, step_index",
    );
    assert_eq!(steps, ["power", "safe-state"]);

    let again = replay();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!(
            "no spill beside {}: nothing to replay\n",
            store_path.display()
        )
    );
}
