//! A prompt's answer pattern and picture: checked at load, at its file, line and key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;

use indoc::indoc;
use test_case::test_case;

fn problems(scenario: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, scenario).unwrap();
    std::fs::write(dir.path().join("panel.png"), b"\x89PNG\r\n").unwrap();
    std::fs::create_dir(dir.path().join("pictures.png")).unwrap();
    let paths = vec![root.join("device-profiles"), file.clone()];
    let (_, diags) = rigor_model::load_paths(&paths);
    diags
        .to_string()
        .replace(&file.display().to_string(), "s.yaml")
        .replace(&dir.path().display().to_string(), "DIR")
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

#[test_case("panel.png", "" ; "a picture next to the scenario")]
#[test_case(
    "missing.png",
    "s.yaml:5:63: steps[0].prompt.image: cannot read `DIR/missing.png`: No such file or directory (os error 2)\n  help: give the path of a PNG, JPEG, GIF, SVG or WebP file, relative to this file"
    ; "a picture that is not there"
)]
#[test_case(
    "s.yaml",
    "s.yaml:5:63: steps[0].prompt.image: `s.yaml` is not a picture a screen can show\n  help: give the path of a PNG, JPEG, GIF, SVG or WebP file, relative to this file"
    ; "a file a screen cannot show"
)]
#[test_case(
    "pictures.png",
    "s.yaml:5:63: steps[0].prompt.image: `DIR/pictures.png` is not a regular file\n  help: give the path of a PNG, JPEG, GIF, SVG or WebP file, relative to this file"
    ; "a folder"
)]
fn prompt_pictures_are_checked(image: &str, expected: &str) {
    let scenario = format!(
        "scenario: s\nversion: 1\napplies-to: {{ family: fridge-ctl }}\nsteps:\n  \
         - prompt: {{ message: Is it lit?, choices: [yes, no], image: {image} }}\n"
    );
    assert_eq!(problems(&scenario), expected);
}
