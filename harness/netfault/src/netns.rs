//! Network namespaces rigor owns, and the `ip` commands that make them.
//!
//! Every interface, qdisc and nft rule rigor creates lives inside a namespace named
//! `rg-<pid>-<start>-<link>`, after the process that owns it (its pid and its start time, so a
//! reused pid is not mistaken for the owner). Deleting a namespace takes everything in it along,
//! so "leave nothing behind" reduces to "delete the namespaces whose owner is gone", which
//! [`sweep`] does at every start; a link's `Drop` deletes its own while rigor lives.
//!
//! The namespaces are made with iproute2's `ip netns` rather than a netlink crate: `ip netns add`
//! also creates the bind mount under `/run/netns` that makes a namespace nameable (by
//! `ip netns exec`, by `nft`, by an engineer looking at a leftover), and no netlink crate does
//! that part without `unsafe` fork/unshare code of its own.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::NetfaultError;

/// The prefix of every name rigor owns.
pub const PREFIX: &str = "rg-";

/// Where `ip netns` keeps its bind mounts.
const NETNS_DIR: &str = "/run/netns";

/// Runs a command, turning a failure into an error that carries its stderr.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, NetfaultError> {
    run_with_input(program, args, None)
}

/// Runs a command with `input` on its stdin (nft reads a whole ruleset so it applies at once).
pub(crate) fn run_with_input(
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, NetfaultError> {
    let command = format!("{program} {}", args.join(" "));
    let spawn_error = |source| NetfaultError::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input.as_bytes()).map_err(spawn_error)?;
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        return Err(NetfaultError::Command {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// This process's identity in namespace names: its pid and its start time in clock ticks.
pub(crate) fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}-{}", start_time(pid).unwrap_or(0))
    })
}

/// A process's start time (field 22 of `/proc/<pid>/stat`), or `None` if it is gone.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A namespace name this process owns, for the link `link`.
pub fn owned_name(link: &str) -> String {
    format!("{PREFIX}{}-{link}", owner())
}

/// Whether a namespace named by [`owned_name`] belongs to a process that is gone.
fn is_orphan(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let mut parts = rest.splitn(3, '-');
    match (parts.next(), parts.next()) {
        (Some(pid), Some(start)) => owner_gone(&format!("{pid}-{start}")),
        // Ours by prefix but not by the scheme: a leftover of an older rigor.
        _ => true,
    }
}

/// Whether the process an [`owner`] string names (`<pid>-<start>`) is gone; anything that is
/// not such a string names no live process.
pub(crate) fn owner_gone(owner: &str) -> bool {
    let Some((pid, start)) = owner.trim().split_once('-') else {
        return true;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return true;
    };
    start_time(pid) != Some(start)
}

/// The namespaces with rigor's prefix.
pub fn list_owned() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(PREFIX))
        .collect();
    names.sort();
    names
}

/// Deletes every rigor namespace whose owner is gone (with its interfaces, qdiscs and rules);
/// returns their names. Idempotent, and safe beside other live rigor processes.
pub fn sweep() -> Result<Vec<String>, NetfaultError> {
    let mut removed = Vec::new();
    for name in list_owned().into_iter().filter(|n| is_orphan(n)) {
        delete(&name)?;
        removed.push(name);
    }
    Ok(removed)
}

/// Runs the start's sweeps once per process, before the first link is made: [`sweep`], and the
/// host interfaces dead owners' `netem:` points left impaired
/// ([`crate::interface_link::sweep`]), which no namespace holds. Both, whichever link opens
/// first: a rig whose next run has no `netem:` point must not keep the last run's delay.
pub fn sweep_once() -> Result<(), NetfaultError> {
    static SWEPT: OnceLock<()> = OnceLock::new();
    if SWEPT.get().is_none() {
        sweep()?;
        crate::interface_link::sweep()?;
        let _ = SWEPT.set(());
    }
    Ok(())
}

/// Creates a namespace (replacing one of the same name) with its loopback up.
pub(crate) fn create(name: &str) -> Result<(), NetfaultError> {
    if list_owned().iter().any(|n| n == name) {
        delete(name)?;
    }
    run("ip", &["netns", "add", name])?;
    run("ip", &["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Deletes a namespace; one already gone is not an error.
pub(crate) fn delete(name: &str) -> Result<(), NetfaultError> {
    if !PathBuf::from(NETNS_DIR).join(name).exists() {
        return Ok(());
    }
    run("ip", &["netns", "del", name]).map(drop)
}

/// Runs `f` on a thread of its own inside namespace `name`, so sockets and devices it creates
/// belong there (a socket stays in the namespace it was made in, whichever thread uses it). A
/// fresh thread because `setns` changes only the calling thread, and a runtime's worker must not
/// be left in another namespace.
pub fn in_namespace<T, F>(name: &str, f: F) -> Result<T, NetfaultError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = PathBuf::from(NETNS_DIR).join(name);
    let file = File::open(&path).map_err(|source| NetfaultError::EnterNamespace {
        path: path.clone(),
        source,
    })?;
    let thread = std::thread::spawn(move || -> Result<T, NetfaultError> {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| {
            NetfaultError::EnterNamespace {
                path,
                source: errno.into(),
            }
        })?;
        Ok(f())
    });
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_of_this_process_is_not_an_orphan_and_one_of_a_dead_process_is() {
        assert!(!is_orphan(&owned_name("x")));
        // Pid 0 is never a user process.
        assert!(is_orphan("rg-0-5-x"));
        assert!(is_orphan("rg-leftover"));
        assert!(!is_orphan("other-1-2-x"));
    }

    #[test]
    fn the_owner_pid_and_start_time_are_read_from_proc() {
        let me = std::process::id();
        assert!(start_time(me).is_some_and(|t| t > 0));
        assert!(owned_name("up").starts_with(&format!("rg-{me}-")));
    }
}
