//! Multi-device scenarios: bad roles, barriers and references to another role's unit are
//! reported at load, at their file, line and key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;

use indoc::indoc;
use test_case::test_case;

fn problems(scenario: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, scenario).unwrap();
    let paths = vec![root.join("device-profiles"), file.clone()];
    let (_, diags) = rigor_model::load_paths(&paths);
    diags
        .to_string()
        .replace(&file.display().to_string(), "s.yaml")
        .trim_end()
        .to_owned()
}

#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway:
            family: fridge-gw
            steps:
              - barrier: up
              - console.expect: 'sensor ${sensor[1].serial} temp='
          sensor:
            family: fridge-ctl
            count: 2
            steps:
              - barrier: up
    "},
    ""
    ; "a gateway and two sensors"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway: { family: fridge-gw, steps: [barrier: up] }
          sensor: { family: fridge-ctl, count: 0, steps: [barrier: up] }
    "},
    "s.yaml:5:40: roles.sensor.count: a role needs at least one unit\n  help: write `count: 1` or more, or remove the role"
    ; "a role of no units"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway: { family: fridge-gw, steps: [barrier: up, barrier: ready] }
          sensor: { family: fridge-ctl, steps: [barrier: up] }
    "},
    "s.yaml:4:63: roles.gateway.steps[1].barrier: barrier `ready` is named only by role `gateway`, which has one unit: it would wait for nobody\n  help: name it in the steps of another role too (sensor)"
    ; "a barrier only one role names"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway:
            family: fridge-gw
            steps:
              - console.expect: 'sensor ${sensr[0].serial} temp='
          sensor: { family: fridge-ctl }
    "},
    "s.yaml:7:25: roles.gateway.steps[0].console.expect: `${sensr[0].serial}` names role `sensr`, which this scenario does not have\n  help: did you mean `sensor`?"
    ; "an unknown role in a step"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway:
            family: fridge-gw
            steps:
              - console.expect: 'sensor ${sensor[2].serial} temp='
          sensor: { family: fridge-ctl, count: 2 }
    "},
    "s.yaml:7:25: roles.gateway.steps[0].console.expect: `${sensor[2].serial}`: role `sensor` has 2 unit(s), numbered from 0\n  help: use an index below 2, or raise the role's `count`"
    ; "a unit past the role's count"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway:
            family: fridge-gw
            steps:
              - console.expect: 'sensor ${sensor[0].serail} temp='
          sensor: { family: fridge-ctl }
    "},
    "s.yaml:7:25: roles.gateway.steps[0].console.expect: `${sensor[0].serail}`: a unit has no `serail`\n  help: did you mean `serial`?"
    ; "an unknown field of a unit"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway: { family: fridge-gw, steps: [barrier: up], teardown: [barrier: up] }
          sensor: { family: fridge-ctl, steps: [barrier: up] }
    "},
    "s.yaml:4:75: roles.gateway.teardown[0].barrier: a barrier in teardown\n  help: teardown runs whatever happened, even after another role has stopped; put barriers in `setup` or `steps`"
    ; "a barrier in teardown"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        applies-to: { family: fridge-ctl }
        steps:
          - barrier: up
    "},
    "s.yaml:5:14: steps[0].barrier: a barrier lines up the roles of a multi-device scenario, and this one has no `roles`\n  help: remove it, or give the scenario `roles:`"
    ; "a barrier without roles"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        applies-to: { family: fridge-ctl }
        roles:
          sensor: { family: fridge-ctl }
    "},
    "s.yaml:3:13: applies-to: a scenario with `roles` has no `applies-to` of its own\n  help: move it into each role (`roles.NAME.applies-to`)"
    ; "roles beside applies-to"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        steps:
          - power: on
    "},
    "s.yaml:1:11: scenario: a scenario needs `applies-to` (or `roles`)\n  help: write `applies-to: { family: ... }`, or give it `roles:` to run several devices"
    ; "neither applies-to nor roles"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        roles:
          gateway: { family: fridge-gateway }
    "},
    "s.yaml:4:22: roles.gateway.family: no device profile of family `fridge-gateway`\n  help: did you mean `fridge-gw`?"
    ; "a role of an unknown family"
)]
fn roles_are_checked(scenario: &str, expected: &str) {
    assert_eq!(problems(scenario), expected);
}
