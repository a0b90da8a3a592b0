//! `rigor check`'s work (load, validate, bind every scenario everywhere, build the matrix's rows
//! as `rigor check` does, without keeping the plans) on the shipped tree, and on a generated tree
//! of 1 000 scenarios. Targets in release (issue 8): the shipped tree under 50 ms, the generated
//! one at most 1 s.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark fails loudly

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};

fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    ["device-profiles", "rigs", "fixtures", "examples"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

fn check(paths: &[PathBuf]) -> usize {
    let (catalog, diags) = rigor_model::load_paths(paths);
    let (rows, bind) = rigor_plan::matrix_rows(&catalog, &BTreeMap::new());
    assert!(diags.is_empty() && bind.is_empty(), "{diags}{bind}");
    rows.len()
}

/// The shipped tree plus 1 000 variants of its smoke scenario.
fn generated() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let smoke = shipped()[3].join("scenarios/smoke.yaml");
    let text = std::fs::read_to_string(&smoke).unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for i in 0..1000 {
        let renamed = text.replacen("scenario: smoke", &format!("scenario: smoke-{i:04}"), 1);
        std::fs::write(scenarios.join(format!("smoke-{i:04}.yaml")), renamed).unwrap();
    }
    // Fragments are included by relative path from the scenarios folder.
    let fragments = shipped()[3].join("scenarios/fragments");
    if fragments.is_dir() {
        std::fs::create_dir_all(scenarios.join("fragments")).unwrap();
        for f in std::fs::read_dir(fragments).unwrap().flatten() {
            std::fs::copy(f.path(), scenarios.join("fragments").join(f.file_name())).unwrap();
        }
    }
    let mut paths = shipped()[..3].to_vec();
    paths.push(scenarios);
    (dir, paths)
}

fn bench(c: &mut Criterion) {
    let paths = shipped();
    c.bench_function("check shipped tree", |b| b.iter(|| check(&paths)));
    let (_dir, paths) = generated();
    let mut group = c.benchmark_group("large");
    group.sample_size(10);
    group.bench_function("check 1000 scenarios", |b| b.iter(|| check(&paths)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
