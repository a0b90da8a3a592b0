//! `rigor check`: load everything, bind every scenario everywhere it applies, print the matrix.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use rigor_model::value::Scalar;
use rigor_plan::{Row, Status};

use crate::exit_code;

/// The folders `rigor check` reads when given none: the shipped tree.
pub const DEFAULT_PATHS: [&str; 5] = ["device-profiles", "rigs", "fixtures", "examples", "routes"];

/// The given paths, or the shipped folders that exist here.
pub fn paths_or_default(given: &[PathBuf]) -> Vec<PathBuf> {
    if given.is_empty() {
        DEFAULT_PATHS
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect()
    } else {
        given.to_vec()
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs: `check` prints one JSON document with the diagnostics and the matrix;
    /// `run` prints every event as a JSON line.
    Json,
}

/// Where the rigor files are: the same option on every command that reads them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Tree {
    /// A file or folder of rigor files; repeat for several (default: the shipped folders,
    /// device-profiles, rigs, fixtures, examples and routes, where they are).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

impl Tree {
    /// The given paths, or the shipped folders that exist here.
    pub fn paths(&self) -> Vec<PathBuf> {
        paths_or_default(&self.paths)
    }
}

/// Runs the check and returns the exit code.
pub fn run(paths: Vec<PathBuf>, parameters: &BTreeMap<String, Scalar>, format: Format) -> i32 {
    let paths = paths_or_default(&paths);
    if paths.is_empty() {
        eprintln!(
            "error: nothing to check: none of {} is here\n  help: run rigor check in a checkout, or give paths",
            DEFAULT_PATHS.join(", ")
        );
        return exit_code::INVALID_INPUT;
    }
    let (catalog, mut diags) = rigor_model::load_paths(&paths);
    let (rows, bind_diags) = rigor_plan::matrix_rows(&catalog, parameters);
    diags.extend(bind_diags);
    diags.sort();
    // What the rigs need of this host is reported, not held against the files: a tree is often
    // checked on a laptop rather than on the rack.
    let host: Vec<(String, rigor_netfault::host::PointProblem)> = catalog
        .rigs
        .iter()
        .flat_map(|(name, rig)| {
            rigor_netfault::host::rig_problems(&rig.value)
                .into_iter()
                .map(move |p| (name.clone(), p))
        })
        .collect();
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "diagnostics": diags.iter().map(|d| serde_json::json!({
                    "file": d.origin.file, "line": d.origin.location.map(|l| l.line),
                    "column": d.origin.location.map(|l| l.column), "path": d.path,
                    "message": d.message, "help": d.help,
                    "related": d.related.iter().map(|(what, o)| serde_json::json!({
                        "note": what, "file": o.file, "line": o.location.map(|l| l.line),
                        "column": o.location.map(|l| l.column),
                    })).collect::<Vec<_>>(),
                    "rendered": d.to_string(),
                })).collect::<Vec<_>>(),
                "matrix": rows,
                "host": host.iter().map(|(rig, p)| serde_json::json!({
                    "rig": rig, "slot": p.slot, "channel": p.channel, "kind": p.kind,
                    "problem": p.problem.to_string(),
                })).collect::<Vec<_>>(),
            });
            println!("{doc:#}");
        }
        Format::Text => {
            for d in diags.iter() {
                eprintln!("error: {d}");
            }
            let counts: Vec<String> = catalog
                .counts()
                .iter()
                .map(|(what, n)| format!("{n} {what}"))
                .collect();
            println!("checked {}", counts.join(", "));
            if !rows.is_empty() {
                println!();
                print!("{}", render(&rows));
            }
            let runs = rows
                .iter()
                .filter(|r| matches!(r.status, Status::Runs { .. }))
                .count();
            let skipped = rows
                .iter()
                .filter(|r| matches!(r.status, Status::Skipped { .. }))
                .count();
            let invalid = rows
                .iter()
                .filter(|r| matches!(r.status, Status::Invalid { .. }))
                .count();
            for (rig, problem) in &host {
                eprintln!("warning: rig {rig}: {problem}");
            }
            println!(
                "\n{runs} runnable, {skipped} skipped, {invalid} invalid; {} problems",
                diags.len()
            );
        }
    }
    if diags.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::INVALID_INPUT
    }
}

/// The matrix as an aligned table.
pub fn render(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let result = match &r.status {
                Status::Runs {
                    steps,
                    measurements,
                } => format!("runs: {steps} steps, {measurements} measurements"),
                Status::Skipped { reason } => format!("skipped: {reason}"),
                Status::Invalid { problems } => format!("INVALID: {problems} problems"),
            };
            let dash = || "-".to_owned();
            let role = r.role.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
            [
                format!("{} v{}{role}", r.scenario, r.version),
                r.generation.clone(),
                r.fixture.clone().unwrap_or_else(dash),
                r.rig.clone().unwrap_or_else(dash),
                if r.slots.is_empty() {
                    dash()
                } else {
                    r.slots.join(",")
                },
                result,
            ]
        })
        .collect();
    let header = ["SCENARIO", "GEN", "FIXTURE", "RIG", "SLOTS", "RESULT"].map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&cells) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i == 5 {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
