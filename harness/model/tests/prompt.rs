//! A prompt's answer pattern: checked at load, at its file, line and key.

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
        applies-to: { family: fridge-ctl }
        steps:
          - prompt: { message: Scan it, as: label, pattern: 'FC1-\\d{6}' }
    "},
    ""
    ; "a pattern on a text answer"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        applies-to: { family: fridge-ctl }
        steps:
          - prompt: { message: Looks right?, choices: [yes, no], pattern: 'x' }
    "},
    "s.yaml:5:67: steps[0].prompt.pattern: a pattern checks a text answer, and this prompt takes none\n  help: name the answer with `as`, or remove `pattern`"
    ; "a pattern without a text answer"
)]
#[test_case(
    indoc! {"
        scenario: s
        version: 1
        applies-to: { family: fridge-ctl }
        steps:
          - prompt: { message: Scan it, as: label, pattern: 'FC1-(' }
    "},
    "s.yaml:5:53: steps[0].prompt.pattern: invalid regular expression: unclosed group"
    ; "an invalid pattern"
)]
fn prompt_patterns_are_checked(scenario: &str, expected: &str) {
    assert_eq!(problems(scenario), expected);
}
