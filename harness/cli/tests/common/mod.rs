//! What the `rigor` binary's tests share: the command, run from the checkout, and rows of the
//! store read back as text.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

/// The `rigor` binary, in the checkout's root (where the shipped folders are).
pub fn rigor() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rigor"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    c
}

/// The first column of every row `sql` selects from the store at `db`, as text.
pub fn rows(db: &Path, sql: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(db).unwrap();
    db.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Stdout and stderr, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stdout, once the command is known to have exited with `code` (else the test fails showing
/// stdout and stderr).
pub fn exited(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}
