//! The shipped rigor files (device profiles, rigs, fixtures, example scenarios), built into the
//! binary so `rigor demo` runs the same from any folder and after `cargo install`.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

/// The shipped folders, by the name they have in a checkout.
static FOLDERS: [(&str, Dir<'static>); 4] = [
    (
        "device-profiles",
        include_dir!("$CARGO_MANIFEST_DIR/../../device-profiles"),
    ),
    ("rigs", include_dir!("$CARGO_MANIFEST_DIR/../../rigs")),
    (
        "fixtures",
        include_dir!("$CARGO_MANIFEST_DIR/../../fixtures"),
    ),
    (
        "examples",
        include_dir!("$CARGO_MANIFEST_DIR/../../examples"),
    ),
];

/// Where the shipped files are for this run: the folders here when run in a checkout (so a
/// change to them is seen), else the built-in copy written to a temporary folder that lives as
/// long as this value.
pub struct ShippedTree {
    paths: Vec<PathBuf>,
    _copy: Option<tempfile::TempDir>,
}

impl ShippedTree {
    /// The folders to load.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Whether these are the built-in copy rather than a checkout's folders.
    pub fn is_built_in(&self) -> bool {
        self._copy.is_some()
    }
}

/// The shipped files: `here`'s folders if it has them all, else the built-in copy.
pub fn tree(here: &Path) -> std::io::Result<ShippedTree> {
    let local: Vec<PathBuf> = FOLDERS.iter().map(|(name, _)| here.join(name)).collect();
    if local.iter().all(|p| p.is_dir()) {
        return Ok(ShippedTree {
            paths: local,
            _copy: None,
        });
    }
    let copy = tempfile::Builder::new()
        .prefix("rigor-shipped-")
        .tempdir()?;
    let mut paths = Vec::new();
    for (name, dir) in &FOLDERS {
        let to = copy.path().join(name);
        std::fs::create_dir_all(&to)?;
        write_rigor_files(dir, &to)?;
        paths.push(to);
    }
    Ok(ShippedTree {
        paths,
        _copy: Some(copy),
    })
}

/// Writes the YAML files of `dir` (and its folders) under `to`, with the pictures their prompts
/// show; the firmware sources beside them are not rigor files.
fn write_rigor_files(dir: &Dir<'_>, to: &Path) -> std::io::Result<()> {
    let wanted = |extension: &str| {
        extension == "yaml"
            || rigor_model::check_step::PROMPT_IMAGE_TYPES
                .iter()
                .any(|(e, _)| *e == extension)
    };
    for file in dir.files() {
        if file
            .path()
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(wanted)
        {
            let path = to.join(file.path());
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, file.contents())?;
        }
    }
    for sub in dir.dirs() {
        write_rigor_files(sub, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn away_from_a_checkout_the_built_in_copy_loads_clean() {
        let empty = tempfile::tempdir().unwrap();
        let tree = tree(empty.path()).unwrap();
        assert!(tree.is_built_in());
        let catalog = crate::load(tree.paths()).unwrap();
        assert!(catalog.rigs.contains_key("virtual-bench"));
        assert!(catalog.scenarios.contains_key("smoke"));
        assert!(catalog.instruments.contains_key("riden-rd6006"));
    }
}
