//! Route files: the shipped one loads clean; bad ones are reported at their file, line, column
//! and key, with the nearest valid name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::{Path, PathBuf};

use indoc::indoc;
use test_case::test_case;

fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    ["device-profiles", "rigs", "fixtures", "examples", "routes"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

/// Loads the shipped files and `route` (as `route.yaml`), and returns the problems as printed.
fn problems(route: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("route.yaml");
    std::fs::write(&file, route).unwrap();
    let mut paths = shipped();
    paths.push(file.clone());
    let (_, diags) = rigor_model::load_paths(&paths);
    diags
        .to_string()
        .replace(&file.display().to_string(), "route.yaml")
}

#[test]
fn the_shipped_route_loads_and_tells_generations_by_label() {
    let (catalog, diags) = rigor_model::load_paths(&shipped());
    assert!(diags.is_empty(), "{diags}");
    let route = &catalog.routes["eol-fridge"].value;
    assert_eq!(route.scenarios, ["smoke", "provisioning"]);
    assert_eq!(route.profile_of("FC2-000201"), Some("fridge-ctl-gen2"));
    assert_eq!(route.profile_of("FC3-000301"), Some("fridge-ctl-gen3"));
    // The whole label must match: a longer one is not a gen1 label.
    assert_eq!(route.profile_of("FC1-0001011"), None);
    assert_eq!(route.profile_of("XFC1-000101"), None);
}

#[test_case(
    indoc! {"
        route: r
        on-rig: virtual-bnch
        scenarios: [smoke]
        serials: { fridge-ctl-gen1: 'FC1-\\d{6}' }
    "},
    "route.yaml:2:9: on-rig: no rig `virtual-bnch`\n  help: did you mean `virtual-bench`?"
    ; "unknown rig"
)]
#[test_case(
    indoc! {"
        route: r
        on-rig: virtual-bench
        scenarios: [smoke, provisoning]
        serials: { fridge-ctl-gen1: 'FC1-\\d{6}' }
    "},
    "route.yaml:3:20: scenarios[1]: no scenario `provisoning`\n  help: did you mean `provisioning`?"
    ; "unknown scenario"
)]
#[test_case(
    indoc! {"
        route: r
        on-rig: virtual-bench
        scenarios: [smoke]
        serials:
          fridge-ctl-gen4: 'FC4-\\d{6}'
          fridge-ctl-gen1: 'FC1-(\\d{6}'
    "},
    "route.yaml:5:3: serials.fridge-ctl-gen4: no device profile `fridge-ctl-gen4`\n  help: did you mean `fridge-ctl-gen3`?\n\
     route.yaml:6:20: serials.fridge-ctl-gen1: invalid regular expression: unclosed group"
    ; "unknown profile and bad pattern"
)]
#[test_case(
    indoc! {"
        route: r
        on-rig: virtual-bench
        scenarios: [smoke]
        serials: { fridge-ctl-gen1: 'FC1-\\d{6}' }
        label: { tcp: printer, template: '^XA${serail}^XZ' }
    "},
    "route.yaml:5:15: label.tcp: `printer` is not `host:port`\n  help: e.g. `printer-3.line:9100`\n\
     route.yaml:5:34: label.template: the template uses `${serail}`, which a label does not have\n  help: did you mean `serial`?"
    ; "bad label"
)]
#[test_case(
    indoc! {"
        route: r
        on-rig: virtual-bench
        scenarios: [smoke]
        retest-limt: 3
        serials: { fridge-ctl-gen1: 'FC1-\\d{6}' }
    "},
    "route.yaml:4:1: retest-limt: unknown key `retest-limt`\n  help: did you mean `retest-limit`?"
    ; "unknown key"
)]
fn bad_routes_are_reported_where_they_are(route: &str, expected: &str) {
    assert_eq!(problems(route).trim_end(), expected);
}
