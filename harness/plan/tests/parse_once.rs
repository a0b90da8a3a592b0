//! Patterns and expressions are parsed once, at load: every plan bound from a scenario, on every
//! slot, holds the very regex and expression tree its file's load compiled (`${boot_banner}`
//! too: it is the profile's banner, compiled with the profile).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;

use indoc::indoc;
use rigor_plan::plan::{BoundAction, MeasureSource};

const FILES: [(&str, &str); 4] = [
    (
        "profile.yaml",
        indoc! {r#"
            profile: dev-gen1
            family: dev
            generation: gen1
            console: { baud: 9600, boot-banner: 'boot (?P<fw>\S+)' }
        "#},
    ),
    (
        "rig.yaml",
        indoc! {"
            rig: bench
            virtual-bench: {}
            slots:
              s1: { kind: socket, serial: { uart0: virtual } }
              s2: { kind: socket, serial: { uart0: virtual } }
        "},
    ),
    (
        "fixture.yaml",
        indoc! {"
            fixture: fx1
            fits: { family: dev, generations: [gen1] }
            slot-kind: socket
            console: uart0
        "},
    ),
    (
        "scenario.yaml",
        indoc! {r#"
            scenario: smoke
            version: 1
            applies-to: { family: dev }
            steps:
              - console.expect: '${boot_banner}'
              - console.expect: 'temp (?P<raw>\d+)'
              - measure: { name: temp, expr: "raw * 0.0625", limits: { low: 0, high: 10, unit: degC } }
              - console.capture: { as: log, until: 'selftest: (ok|fail)' }
        "#},
    ),
];

#[test]
fn every_bound_plan_shares_what_the_load_parsed() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in FILES {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let (cat, diags) = rigor_model::load_paths(&[dir.path().to_path_buf()]);
    assert!(diags.is_empty(), "{diags}");
    let (_, plans, bind) = rigor_plan::matrix(&cat, &BTreeMap::new());
    assert!(bind.is_empty(), "{bind}");
    assert_eq!(plans.len(), 2, "one plan per slot");

    let banner = cat.profiles["dev-gen1"].value.console.as_ref().unwrap();
    let banner = banner.boot_banner.as_ref().unwrap();
    let written = &cat.scenarios["smoke"].steps;
    let written = |i: usize| &written[i].step.action;
    for plan in &plans {
        let BoundAction::ConsoleExpect { pattern, .. } = &plan.steps[0].action else {
            panic!("{:?}", plan.steps[0].action)
        };
        assert!(
            pattern.shares_parse_with(banner),
            "the banner compiled with the profile"
        );
        let (
            BoundAction::ConsoleExpect { pattern, .. },
            rigor_model::step::Action::ConsoleExpect(e),
        ) = (&plan.steps[1].action, written(1))
        else {
            panic!("{:?}", plan.steps[1].action)
        };
        assert!(pattern.shares_parse_with(&e.pattern));
        let (
            BoundAction::Measure {
                source: MeasureSource::Expr(expr),
                ..
            },
            rigor_model::step::Action::Measure(m),
        ) = (&plan.steps[2].action, written(2))
        else {
            panic!("{:?}", plan.steps[2].action)
        };
        assert!(expr.shares_parse_with(m.expr.as_ref().unwrap()));
        let (
            BoundAction::ConsoleCapture {
                until: Some(until), ..
            },
            rigor_model::step::Action::ConsoleCapture(c),
        ) = (&plan.steps[3].action, written(3))
        else {
            panic!("{:?}", plan.steps[3].action)
        };
        assert!(until.shares_parse_with(c.until.as_ref().unwrap()));
    }
}

/// A check of many scenarios written from one template compiled each one's patterns again
/// (about an eighth of `rigor check`'s time on a thousand of them): one load parses each
/// distinct text once, whichever files it is written in.
#[test]
fn scenarios_that_write_the_same_pattern_share_one_parse() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in FILES {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let copy = FILES[3]
        .1
        .replace("scenario: smoke", "scenario: smoke-copy");
    std::fs::write(dir.path().join("scenario-copy.yaml"), copy).unwrap();
    let (cat, diags) = rigor_model::load_paths(&[dir.path().to_path_buf()]);
    assert!(diags.is_empty(), "{diags}");
    let action = |scenario: &str, i: usize| &cat.scenarios[scenario].steps[i].step.action;
    let (rigor_model::step::Action::ConsoleExpect(a), rigor_model::step::Action::ConsoleExpect(b)) =
        (action("smoke", 1), action("smoke-copy", 1))
    else {
        panic!("{:?}", action("smoke", 1))
    };
    assert!(a.pattern.shares_parse_with(&b.pattern));
    let (rigor_model::step::Action::Measure(a), rigor_model::step::Action::Measure(b)) =
        (action("smoke", 2), action("smoke-copy", 2))
    else {
        panic!("{:?}", action("smoke", 2))
    };
    assert!(
        a.expr
            .as_ref()
            .unwrap()
            .shares_parse_with(b.expr.as_ref().unwrap())
    );
}
