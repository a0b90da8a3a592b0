//! Faults never outlive rigor: a process holding impaired links is killed with SIGKILL, and the
//! next start removes everything it left.
//!
//! The holder is this test binary run again on the ignored test `holder`, so the test needs no
//! binary of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rigor_netfault::netns::{list_owned, sweep};
use rigor_netfault::{DirectionImpairment, KernelLink, LinkConfig, PacketImpairment, PacketLink};

const HOLDER: &str = "RIGOR_NETFAULT_HOLDER";

/// Holds an impaired TUN link and a veth link until killed (run only by the test below).
#[tokio::test]
#[ignore = "run by a_killed_rigor_leaves_nothing_after_the_next_start"]
async fn holder() {
    if std::env::var_os(HOLDER).is_none() {
        return;
    }
    let tun = PacketLink::open(&LinkConfig::numbered("rgt-held", 40))
        .await
        .unwrap();
    tun.set(PacketImpairment {
        up: DirectionImpairment {
            delay: Duration::from_millis(100),
            loss: Some(rigor_netfault::Loss::Random {
                percent: 50.0,
                correlation_percent: 0.0,
            }),
            ..DirectionImpairment::default()
        },
        ..PacketImpairment::default()
    });
    let veth = KernelLink::open(&LinkConfig::numbered("rgt-heldk", 41)).unwrap();
    println!(
        "READY {} {} {} {}",
        tun.device_namespace(),
        tun.network_namespace(),
        veth.device_namespace(),
        veth.network_namespace()
    );
    std::future::pending::<()>().await;
}

/// Kills the holder if the test fails before it does; disarmed once the holder is reaped, so
/// a reused pid is never signalled.
struct Reaper(Option<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

fn interfaces(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_killed_rigor_leaves_nothing_after_the_next_start() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "holder",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Should an assertion fail before the kill, the holder must not hold its links forever.
    let mut reaper = Reaper(Some(pid));
    let ready = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        // libtest prints the test's name on the same line, before it.
        .find_map(|l| l.split_once("READY ").map(|(_, names)| names.to_owned()))
        .expect("the holder opens its links");
    let names: Vec<String> = ready.split_whitespace().map(str::to_owned).collect();
    assert_eq!(names.len(), 4);
    assert!(interfaces(&names[0]).contains("rgt-held"), "the TUN is up");
    assert!(
        interfaces(&names[2]).contains("rgt-heldk"),
        "the veth is up"
    );

    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    reaper.0 = None;

    // The TUN devices die with their owner's file descriptors; the namespaces (bind mounts) and
    // the veth pair in them stay: what the next start must clear.
    assert!(!interfaces(&names[0]).contains("rgt-held"));
    assert!(interfaces(&names[2]).contains("rgt-heldk"));
    let left = list_owned();
    assert!(names.iter().all(|n| left.contains(n)), "{left:?}");

    let removed = sweep().unwrap();
    assert!(names.iter().all(|n| removed.contains(n)), "{removed:?}");
    let left = list_owned();
    assert!(
        left.iter().all(|n| !n.starts_with(&format!("rg-{pid}-"))),
        "{left:?}"
    );
    // Nothing of the holder's on the host either: no interface, no qdisc.
    let host = String::from_utf8(
        Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!host.contains("rgt-held"), "{host}");
    let qdiscs = String::from_utf8(
        Command::new("tc")
            .args(["qdisc", "show"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!qdiscs.contains("rgt-held"), "{qdiscs}");
    // And a second start finds nothing more to do.
    assert!(
        sweep()
            .unwrap()
            .iter()
            .all(|n| !n.starts_with(&format!("rg-{pid}-")))
    );
}
