//! Finding the rigor files under the paths given, and reading each: regular files only, each
//! directory once however many links lead to it, and no file larger than a rigor file can be.
//! A FIFO named `*.yaml` would block forever, a symlink loop would walk until the path is too
//! long, and a link to `/dev/zero` would read until memory runs out: each is reported instead.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, Origin};

/// The largest rigor file read: the shipped ones are a few KiB, a generated scenario of a
/// thousand steps about 100 KiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Every `*.yaml` / `*.yml` file under `paths` (files are taken as given), sorted, each once.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Diagnostics) {
    let mut walk = Walk::default();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk.dir(p),
            Ok(m) if m.is_file() => walk.file(p),
            Ok(_) => walk.problem(p, "not a regular file or a directory; skipped".to_owned()),
            Err(_) => walk.problem(p, "no such file or directory".to_owned()),
        }
    }
    let Walk {
        mut files, diags, ..
    } = walk;
    files.sort();
    files.dedup();
    (files, diags)
}

#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    diags: Diagnostics,
    /// Directories and files already taken, by their real path.
    seen: HashSet<PathBuf>,
}

impl Walk {
    fn problem(&mut self, path: &Path, message: String) {
        self.diags.push(Diagnostic::new(
            Origin::new(Arc::from(path), None),
            "",
            message,
        ));
    }

    /// Takes `path` once: a second way to the same real file or folder is passed over.
    fn first_visit(&mut self, path: &Path) -> bool {
        match std::fs::canonicalize(path) {
            Ok(real) => self.seen.insert(real),
            Err(_) => true,
        }
    }

    fn file(&mut self, path: &Path) {
        if self.first_visit(path) {
            self.files.push(path.to_path_buf());
        }
    }

    fn dir(&mut self, dir: &Path) {
        if !self.first_visit(dir) {
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.problem(dir, format!("cannot read directory: {e}")),
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            // Hidden entries are other tools' (`.git`, `.github/workflows`, `.gitlab-ci.yml`):
            // a folder of rigor files may sit in a repository beside them.
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let yaml = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    if std::fs::canonicalize(&path).is_ok_and(|real| dir_is_ancestor(dir, &real)) {
                        self.problem(
                            &path,
                            "a symbolic link back to a folder it is in; skipped".to_owned(),
                        );
                    } else {
                        self.dir(&path);
                    }
                }
                Ok(m) if m.is_file() && yaml => self.file(&path),
                Ok(m) if m.is_file() => {}
                Ok(_) if yaml => self.problem(
                    &path,
                    "not a regular file (a FIFO, socket or device); skipped".to_owned(),
                ),
                Err(e) if yaml => self.problem(&path, format!("cannot read file: {e}")),
                _ => {}
            }
        }
    }
}

/// Whether `real` is `dir` or a folder above it.
fn dir_is_ancestor(dir: &Path, real: &Path) -> bool {
    std::fs::canonicalize(dir).is_ok_and(|d| d.starts_with(real))
}

/// The text of `file`, or a diagnostic: not UTF-8, or larger than [`MAX_FILE_BYTES`] (read no
/// further than that, whatever the file claims its size is).
pub(crate) fn read_text(file: &Path, diags: &mut Diagnostics) -> Option<Arc<str>> {
    let problem = |diags: &mut Diagnostics, message: String| {
        diags.push(Diagnostic::new(
            Origin::new(Arc::from(file), None),
            "",
            message,
        ));
    };
    let mut bytes = Vec::new();
    let read =
        std::fs::File::open(file).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        problem(diags, format!("cannot read file: {e}"));
        return None;
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        problem(
            diags,
            format!(
                "larger than {} MiB, which no rigor file is; is it the right file?",
                MAX_FILE_BYTES >> 20
            ),
        );
        return None;
    }
    if let Some(encoding) = crate::hints::foreign_encoding(&bytes) {
        problem(diags, encoding);
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(text) => Some(Arc::from(text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            problem(
                diags,
                format!("line {line} (byte {at}) is not UTF-8; save the file as UTF-8"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(d: &Diagnostics, root: &Path) -> Vec<String> {
        let prefix = format!("{}/", root.display());
        d.iter()
            .map(|d| d.to_string().replace(&prefix, ""))
            .collect()
    }

    /// Regression (issue 9.7): a FIFO named `*.yaml` blocked `rigor check` forever, symlink
    /// loops walked 40 levels deep printing hundreds of duplicates, and a link to `/dev/zero`
    /// read until memory ran out.
    #[test]
    fn fifos_loops_and_endless_files_are_reported_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("ok.yaml"), "fixture: fx\n").unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe.yaml"))
            .status()
            .unwrap();
        assert!(fifo.success());
        std::os::unix::fs::symlink(".", root.join("loop")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero.yaml")).unwrap();
        let big = root.join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        let (files, diags) = discover(&[root.to_path_buf()]);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["big.yaml", "ok.yaml"]);
        // Another tool's files beside them are not rigor's.
        std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
        std::fs::write(root.join(".github/workflows/hil.yml"), "on: push\n").unwrap();
        std::fs::write(root.join(".gitlab-ci.yml"), "hil: {}\n").unwrap();
        let (again, _) = discover(&[root.to_path_buf()]);
        assert_eq!(again, files);
        assert_eq!(
            messages(&diags, root),
            [
                "loop: a symbolic link back to a folder it is in; skipped",
                "pipe.yaml: not a regular file (a FIFO, socket or device); skipped",
                "zero.yaml: not a regular file (a FIFO, socket or device); skipped",
            ]
        );
        let mut diags = Diagnostics::default();
        assert!(read_text(&big, &mut diags).is_none());
        assert_eq!(
            messages(&diags, root),
            ["big.yaml: larger than 4 MiB, which no rigor file is; is it the right file?"]
        );
    }

    #[test]
    fn text_that_is_not_utf8_says_its_line_and_byte() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, b"fixture: fx\nslot-kind: \xff\n").unwrap();
        let mut diags = Diagnostics::default();
        assert!(read_text(&file, &mut diags).is_none());
        assert_eq!(
            messages(&diags, dir.path()),
            ["bad.yaml: line 2 (byte 23) is not UTF-8; save the file as UTF-8"]
        );
    }
}
