//! Located diagnostics: every problem in a YAML file names the file, line, column and key path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// Where a named thing was defined: a file and a place in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Origin {
    /// The file, as it was given to the loader.
    pub file: Arc<Path>,
    /// The place in the file, when known.
    pub location: Option<Location>,
}

impl Origin {
    /// An origin at a known place.
    pub fn new(file: Arc<Path>, location: Option<Location>) -> Self {
        Self { file, location }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        Ok(())
    }
}

/// One problem found while loading, validating or binding.
///
/// Rendered compiler-style (`file:line:col: path: message`) so CI logs and editors can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Where the problem is.
    pub origin: Origin,
    /// The key path inside the file, e.g. `steps[3].measure.limits.low`; empty for the whole file.
    pub path: String,
    /// What is wrong, as a lowercase sentence fragment.
    pub message: String,
    /// What would be right, or the nearest valid name.
    pub help: Option<String>,
    /// The other side of a mismatch (e.g. the fixture that lacks a signal the scenario uses).
    pub related: Vec<(String, Origin)>,
}

impl Diagnostic {
    /// A diagnostic with no help and no related places.
    pub fn new(origin: Origin, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin,
            path: path.into(),
            message: message.into(),
            help: None,
            related: Vec::new(),
        }
    }

    /// Adds a hint saying what would be right.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint only when there is one.
    #[must_use]
    pub fn with_optional_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Points at another place that takes part in the problem.
    #[must_use]
    pub fn with_related(mut self, what: impl Into<String>, origin: Origin) -> Self {
        self.related.push((what.into(), origin));
        self
    }

    /// The file this diagnostic is in.
    pub fn file(&self) -> &Path {
        &self.origin.file
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        for (what, origin) in &self.related {
            write!(f, "\n  note: {what} at {origin}")?;
        }
        Ok(())
    }
}

/// All problems found in one pass over a set of files; loading never stops at the first one.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Records one problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    /// Takes over all problems of another collection.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// The problems, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// Sorts by file, then place, so output is stable whatever order files were read in.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (&a.origin.file, a.origin.location, &a.path, &a.message).cmp(&(
                &b.origin.file,
                b.origin.location,
                &b.path,
                &b.message,
            ))
        });
        self.0.dedup();
    }
    /// The problems, owned.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Builds diagnostics for one file: knows the file and its source map, so callers only give a key path.
#[derive(Debug, Clone)]
pub struct FileContext {
    /// The file.
    pub file: Arc<Path>,
    /// Positions of every key and value in it.
    pub map: Arc<crate::source::SourceMap>,
}

impl FileContext {
    /// A context for `file` with positions from `map`.
    pub fn new(file: impl Into<PathBuf>, map: crate::source::SourceMap) -> Self {
        Self {
            file: Arc::from(file.into()),
            map: Arc::new(map),
        }
    }

    /// The origin of the value at `path` (falling back to the nearest enclosing node).
    pub fn origin(&self, path: &str) -> Origin {
        Origin::new(self.file.clone(), self.map.locate(path))
    }

    /// The origin of the key at `path` (for problems with a key's name rather than its value).
    pub fn key_origin(&self, path: &str) -> Origin {
        Origin::new(
            self.file.clone(),
            self.map.locate_key(path).or_else(|| self.map.locate(path)),
        )
    }

    /// A diagnostic at the value of `path`.
    pub fn error(&self, path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        let path = path.into();
        Diagnostic::new(self.origin(&path), path, message)
    }

    /// A diagnostic at the key of `path`.
    pub fn key_error(&self, path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        let path = path.into();
        Diagnostic::new(self.key_origin(&path), path, message)
    }
}

/// Joins a key path and a key (`a.b` + `c` → `a.b.c`).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a key path and a sequence index (`steps` + 3 → `steps[3]`).
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}
