//! The JSON Schemas editors use: kept in the tree, never out of date, named by every shipped file,
//! and satisfied by every shipped file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::{Path, PathBuf};

use rigor_model::load::Kind;
use rigor_model::schema;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

#[test]
fn checked_in_schemas_match_the_model() {
    for kind in Kind::ALL {
        let path = schema_dir().join(schema::file_name(kind));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        let current = format!("{:#}\n", schema::json_schema(kind));
        assert!(
            on_disk == current,
            "{} is out of date: run `cargo run -p rigor-cli -- schema --write harness/model/schemas`",
            path.display()
        );
    }
}

fn shipped_files() -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = ["device-profiles", "rigs", "fixtures", "examples", "routes"]
        .iter()
        .map(|d| root().join(d))
        .collect();
    let (files, diags) = rigor_model::load::discover(&dirs);
    assert!(diags.is_empty(), "{diags}");
    files
}

/// The kind of a file by its top-level key, and the schema its modeline names.
fn kind_and_modeline(path: &Path) -> (Kind, Option<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let value: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let kind = Kind::ALL
        .into_iter()
        .find(|k| value.get(k.key()).is_some())
        .unwrap();
    let modeline = text
        .lines()
        .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
        .map(|s| s.trim().to_owned());
    (kind, modeline)
}

#[test]
fn every_shipped_file_names_its_schema_in_a_modeline() {
    let files = shipped_files();
    assert!(files.len() >= 10, "the shipped tree is missing: {files:?}");
    for file in files {
        let (kind, modeline) = kind_and_modeline(&file);
        let modeline = modeline
            .unwrap_or_else(|| panic!("{} has no yaml-language-server modeline", file.display()));
        let target = file.parent().unwrap().join(&modeline);
        let expected = schema_dir().join(schema::file_name(kind));
        assert_eq!(
            std::fs::canonicalize(&target).ok(),
            std::fs::canonicalize(&expected).ok(),
            "{} names {modeline}, not the {} schema",
            file.display(),
            kind.key()
        );
    }
}

/// Where `instance` breaks the schema of `kind`, one line per problem.
fn schema_errors(kind: Kind, instance: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema::json_schema(kind)).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_shipped_file_satisfies_its_schema() {
    for file in shipped_files() {
        let (kind, _) = kind_and_modeline(&file);
        let instance: serde_json::Value =
            yaml_serde::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let errors = schema_errors(kind, &instance);
        assert!(
            errors.is_empty(),
            "{} does not satisfy its schema:\n{}",
            file.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let validator = jsonschema::validator_for(&schema::json_schema(Kind::Scenario)).unwrap();
    let good: serde_json::Value = serde_json::json!({
        "scenario": "s", "version": 1, "applies-to": { "family": "f" },
        "steps": [ { "power": "on" }, { "id": "b", "console.expect": { "pattern": "x", "within": "3s" } } ]
    });
    assert!(validator.is_valid(&good));
    for bad in [
        serde_json::json!({ "scenario": "s", "version": 1, "applies-to": { "family": "f" }, "steps": [ { "power": "on", "wait": "1s" } ] }),
        serde_json::json!({ "scenario": "s", "version": 1, "applies-to": { "family": "f" }, "steps": [ { "id": "x" } ] }),
        serde_json::json!({ "scenario": "s", "version": 1, "applies-to": { "family": "f" }, "steps": [ { "wait": "soon" } ] }),
        serde_json::json!({ "scenario": "s", "version": 1, "applies-to": { "family": "f" }, "stpes": [] }),
    ] {
        assert!(!validator.is_valid(&bad), "schema accepted {bad}");
    }
}

/// The shipped files as a YAML 1.1 reader (PyYAML, what many CI tools and scripts use) reads
/// them: `power: on` is `power: true` there.
fn read_as_yaml_1_1(file: &Path) -> serde_json::Value {
    let python = std::env::var("RIGOR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), default=str))",
        ])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}; `bash .ci/run` installs PyYAML in .ci/venv"));
    assert!(
        out.status.success(),
        "PyYAML could not read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Regression: the shipped scenarios write `power: on`, which PyYAML reads as `true`, and the
/// schema refused it, so every YAML 1.1 tool called the shipped files invalid.
#[test]
fn every_shipped_file_read_as_yaml_1_1_satisfies_its_schema() {
    let mut booleans = 0;
    for file in shipped_files() {
        let (kind, _) = kind_and_modeline(&file);
        let instance = read_as_yaml_1_1(&file);
        booleans += instance.to_string().matches("\"power\":true").count();
        let errors = schema_errors(kind, &instance);
        assert!(
            errors.is_empty(),
            "{} read as YAML 1.1 does not satisfy its schema:\n{}",
            file.display(),
            errors.join("\n")
        );
    }
    // The case this pins is there: PyYAML did turn `power: on` into a boolean.
    assert!(booleans > 0);
}

#[test]
fn the_loader_reads_yaml_1_1_booleans_as_power_on_and_off() {
    for (text, state) in [
        ("true", rigor_model::action::PowerState::On),
        ("false", rigor_model::action::PowerState::Off),
        (
            "{ state: true, volts: 8.5 }",
            rigor_model::action::PowerState::On,
        ),
    ] {
        let steps: Vec<rigor_model::step::Step> =
            yaml_serde::from_str(&format!("- power: {text}\n")).unwrap();
        match &steps[0].action {
            rigor_model::step::Action::Power(p) => assert_eq!(p.state, state, "{text}"),
            other => panic!("{other:?}"),
        }
    }
}
