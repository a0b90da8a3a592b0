//! Slot locks: two rigor processes never drive the same slot.
//!
//! An advisory `flock` on a file per (rig, slot). The kernel drops it when the holder's last file
//! descriptor closes, so a killed run (SIGKILL, a CI job cancelled) never leaves a stale lock.
//! The holder writes who it is into the file, so the next process can say who has the slot.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A held slot lock; dropping it frees the slot.
#[derive(Debug)]
pub struct SlotLock {
    file: File,
    path: PathBuf,
}

/// Why a slot could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("slot `{slot}` of rig `{rig}` is in use ({holder})")]
    Busy {
        /// The rig.
        rig: String,
        /// The slot.
        slot: String,
        /// What the holder wrote about itself.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SlotLock {
    /// Locks `rig`/`slot` under `dir`, without waiting.
    pub fn acquire(dir: &Path, rig: &str, slot: &str, holder: &str) -> Result<SlotLock, LockError> {
        let path = dir.join(format!("{}.{}.lock", sanitize(rig), sanitize(slot)));
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() {
                    "held by another process".to_owned()
                } else {
                    holder.trim().to_owned()
                };
                return Err(LockError::Busy {
                    rig: rig.to_owned(),
                    slot: slot.to_owned(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "held by pid {} ({holder})", std::process::id()).map_err(io)?;
        Ok(SlotLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SlotLock {
    fn drop(&mut self) {
        // Closing the file would release the lock anyway; unlocking first makes the order explicit.
        let _ = self.file.unlock();
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The folder for the slot locks of real rigs: one per host, whatever the environment
/// (`/run/lock/rigor`, the FHS place for lock files), so two rigor processes of different users
/// or sessions never drive one slot. Falls back to the temporary folder where `/run/lock` is
/// missing or not writable.
pub fn default_dir() -> PathBuf {
    let host = PathBuf::from("/run/lock/rigor");
    if create_shared(&host).is_ok() {
        return host;
    }
    std::env::temp_dir().join("rigor-locks")
}

/// Creates `dir` writable by every user (sticky, as /tmp), so each user's rigor can lock there.
fn create_shared(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777))?;
    }
    // Writable by us: a probe file, since permission bits do not tell about root or ACLs.
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_slot_is_refused_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = SlotLock::acquire(dir.path(), "bench", "slot1", "smoke FC1-1").unwrap();
        let err = SlotLock::acquire(dir.path(), "bench", "slot1", "other").unwrap_err();
        let pid = std::process::id();
        assert_eq!(
            err.to_string(),
            format!("slot `slot1` of rig `bench` is in use (held by pid {pid} (smoke FC1-1))")
        );
        // Another slot is free.
        let _other = SlotLock::acquire(dir.path(), "bench", "slot2", "x").unwrap();
        drop(first);
        SlotLock::acquire(dir.path(), "bench", "slot1", "again").unwrap();
    }

    #[test]
    fn a_killed_holder_leaves_no_stale_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.slot1.lock");
        // A separate process takes the lock with flock(1) and is killed while holding it.
        // --no-fork: the process we kill is the one holding the lock.
        let mut child = std::process::Command::new("flock")
            .arg("--no-fork")
            .arg(&path)
            .args(["sh", "-c", "echo locked; exec sleep 600"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("flock(1) from util-linux");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "locked\n");
        assert!(matches!(
            SlotLock::acquire(dir.path(), "bench", "slot1", "x"),
            Err(LockError::Busy { .. })
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        SlotLock::acquire(dir.path(), "bench", "slot1", "after the kill").unwrap();
    }
}
