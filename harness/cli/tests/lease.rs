//! Rig leases across processes with a real PostgreSQL: a holder frozen with SIGSTOP loses its
//! slot to another host and, woken, stops before its next step; a holder killed with SIGKILL
//! frees its slot within its time to live.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{rigor, rows, text};
use rigor_pg_cluster::Cluster;

/// `rigor run` of burn-in (about ten seconds of steps) on slot1, holding its lease with `ttl`.
fn holder(url: &str, store: &std::path::Path, ttl: &str) -> Child {
    rigor()
        .args(["run", "--rig", "virtual-bench", "--scenario", "burn-in"])
        .args([
            "--slot",
            "slot1",
            "--profile",
            "fridge-ctl-gen1",
            "--unit",
            "FC1-000555",
        ])
        .args(["--installed", "slot1=1.4.2", "--lease-ttl", ttl])
        .args(["--lease-db", url, "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn psql(cluster: &Cluster, sql: &str) -> String {
    cluster.psql(sql).unwrap().trim().to_owned()
}

/// Waits until the holder's run has begun its steps under its lease.
fn wait_until_running(cluster: &Cluster, store: &std::path::Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The holder creates the lease tables when it first connects.
        let held = cluster
            .psql(
                "SELECT count(*) FROM rigor_lease_slots WHERE slot = 'slot1' AND token IS NOT NULL",
            )
            .is_ok_and(|n| n.trim() == "1");
        let stepping = held && steps_recorded(store) > 0;
        if held && stepping {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the holder exited early: {status}");
        }
        assert!(Instant::now() < deadline, "the holder never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Steps in the store so far; none while its writer has not made it yet.
fn steps_recorded(store: &std::path::Path) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    rusqlite::Connection::open_with_flags(store, flags)
        .and_then(|db| db.query_row("SELECT count(*) FROM steps", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

fn acquire(url: &str) -> std::process::Output {
    rigor()
        .args([
            "lease",
            "acquire",
            "--rig",
            "virtual-bench",
            "--slot",
            "slot1",
        ])
        .args(["--for", "1m", "--wait", "60s", "--holder", "other-host"])
        .args(["--lease-db", url])
        .output()
        .unwrap()
}

#[test]
fn a_frozen_holder_loses_the_slot_and_woken_stops_before_its_next_step() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    let mut child = holder(&url, &store, "2s");
    wait_until_running(&cluster, &store, &mut child);
    let steps_before = rows(&store, "SELECT CAST(count(*) AS TEXT) FROM steps");
    signal(&child, "STOP");
    // Another host waits for the slot and gets it once the frozen holder's lease expires.
    let other = acquire(&url);
    assert!(other.status.success(), "{}", text(&other));
    let granted = String::from_utf8_lossy(&other.stdout);
    let token: i64 = granted.split_whitespace().nth(2).unwrap().parse().unwrap();
    signal(&child, "CONT");
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    // Aborted (exit code 5), recorded as such with the reason.
    assert_eq!(out.status.code(), Some(5), "{all}");
    let ends = rows(
        &store,
        "SELECT outcome || ': ' || ifnull(message, '') FROM run_ends",
    );
    assert_eq!(ends.len(), 1);
    assert!(ends[0].starts_with("aborted: stopped: "), "{ends:?}");
    assert!(ends[0].contains("lease"), "{ends:?}");
    // The step it was in when frozen finished; every later step of the test was skipped (only
    // teardown ran after them).
    let count = |sql: &str| -> usize {
        rows(
            &store,
            &format!("SELECT CAST(count(*) AS TEXT) FROM steps WHERE {sql}"),
        )[0]
        .parse()
        .unwrap()
    };
    let first_skip = "(SELECT min(step_index) FROM steps WHERE outcome = 'skipped')";
    let last_skip = "(SELECT max(step_index) FROM steps WHERE outcome = 'skipped')";
    assert!(count("outcome = 'skipped'") > 0);
    let before: usize = steps_before[0].parse().unwrap();
    let ran_first = count(&format!(
        "outcome != 'skipped' AND step_index < {first_skip}"
    ));
    assert!(
        ran_first <= before + 1,
        "{before} steps before the freeze, {ran_first} ran"
    );
    assert_eq!(
        count(&format!(
            "outcome != 'skipped' AND step_index > {first_skip} AND step_index < {last_skip}"
        )),
        0
    );
    // The other host holds it under a larger token, and nobody held it twice.
    let current = psql(
        &cluster,
        "SELECT token FROM rigor_lease_slots WHERE slot = 'slot1'",
    );
    assert_eq!(current, token.to_string());
    let events = psql(
        &cluster,
        "SELECT string_agg(event, ',' ORDER BY seq) FROM rigor_lease_history WHERE slot = 'slot1'",
    );
    assert_eq!(events, "granted,expired,granted");
}

#[test]
fn a_killed_holder_frees_its_slot_within_its_time_to_live() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    let mut child = holder(&url, &store, "3s");
    wait_until_running(&cluster, &store, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = psql(&cluster, "SELECT now()");
    // Its last renewal reaches at most one time to live past the kill.
    let left = psql(
        &cluster,
        &format!(
            "SELECT extract(epoch FROM expires_at - '{killed_at}'::timestamptz) \
             FROM rigor_lease_slots WHERE slot = 'slot1'"
        ),
    );
    let left: f64 = left.parse().unwrap();
    assert!(left <= 3.0, "{left} s left on the killed holder's lease");
    let other = acquire(&url);
    assert!(other.status.success(), "{}", text(&other));
    let events = psql(
        &cluster,
        "SELECT string_agg(event, ',' ORDER BY seq) FROM rigor_lease_history WHERE slot = 'slot1'",
    );
    assert_eq!(events, "granted,expired,granted");
}

#[test]
fn lease_commands_list_release_and_break_and_a_wrong_password_is_a_clear_error() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let lease = |args: &[&str]| {
        rigor()
            .arg("lease")
            .args(args)
            .args(["--lease-db", &url])
            .output()
            .unwrap()
    };
    let got = lease(&[
        "acquire", "--rig", "rack-a", "--any", "2", "--of", "s1,s2,s3",
    ]);
    assert!(got.status.success(), "{}", text(&got));
    let granted: Vec<String> = String::from_utf8_lossy(&got.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(granted.len(), 2, "{granted:?}");
    let busy = lease(&["acquire", "--rig", "rack-a", "--slot", "s1"]);
    assert_eq!(busy.status.code(), Some(1), "{}", text(&busy));
    assert!(
        text(&busy).contains("s1 is held by rigor lease ("),
        "{}",
        text(&busy)
    );
    let listed = String::from_utf8_lossy(&lease(&["list"]).stdout).into_owned();
    assert!(
        listed.contains("rack-a s1 held token") && listed.contains("rack-a s2 held token"),
        "{listed}"
    );
    let token = granted[0].split_whitespace().nth(2).unwrap();
    assert!(
        lease(&[
            "release", "--rig", "rack-a", "--slot", "s1", "--token", token
        ])
        .status
        .success()
    );
    let again = lease(&[
        "release", "--rig", "rack-a", "--slot", "s1", "--token", token,
    ]);
    assert!(
        text(&again).contains(&format!("rack-a/s1 is not held under token {token}")),
        "{}",
        text(&again)
    );
    let broke = lease(&[
        "break", "--rig", "rack-a", "--slot", "s2", "--reason", "rewired", "--by", "tech-7",
    ]);
    assert!(
        String::from_utf8_lossy(&broke.stdout).starts_with("broke rack-a s2 token"),
        "{}",
        text(&broke)
    );
    assert_eq!(String::from_utf8_lossy(&lease(&["list"]).stdout), "");

    let wrong = url.replace("rigor:", "rigor:x");
    let out = rigor()
        .args(["lease", "list", "--lease-db", &wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("cannot reach the lease database"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("password authentication failed"),
        "{}",
        text(&out)
    );
}

#[test]
fn rigor_test_holds_its_slots_lease_while_trials_run_and_gives_it_back() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw");
    rigor_bench::firmware::write_build(&fw, "fridge-ctl", "gen1", "1.4.2").unwrap();
    let out = rigor()
        .args(["test", "--rig", "virtual-bench", "--slot", "slot1"])
        .args([
            "--profile",
            "slot1=fridge-ctl-gen1",
            "--lease-db",
            &url,
            "--firmware",
        ])
        .arg(&fw)
        .arg("--store")
        .arg(dir.path().join("rigor.db"))
        .args(["--exact", "smoke::gen1::slot1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events = psql(
        &cluster,
        "SELECT string_agg(slot || ' ' || event || ' ' || (holder LIKE 'rigor test (%')::text, ',' ORDER BY seq) \
         FROM rigor_lease_history",
    );
    assert_eq!(events, "slot1 granted true,slot1 released true");
}
