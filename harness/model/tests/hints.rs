//! Regression (issue 9.8): YAML mistakes reported by their cause, at their own line, with what to
//! do: another encoding, a double byte-order mark, an alias bomb, a file of comments only, and
//! the indentation mistakes a QA engineer makes. The messages are snapshots: people read them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;

use indoc::indoc;

/// What `rigor check` says about a file holding `bytes`, with the folder left out.
fn said(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let (_, diags) = rigor_model::load_paths(&[file]);
    let prefix = format!("{}/", dir.path().display());
    diags
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

#[test]
fn utf16_is_named_as_such() {
    insta::assert_snapshot!(said("utf16.yaml", &utf16le("scenario: x\nversion: 1\n")));
}

#[test]
fn utf16_without_a_byte_order_mark_is_named_too() {
    let bytes: Vec<u8> = "scenario: x\nversion: 1\n"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    insta::assert_snapshot!(said("utf16be.yaml", &bytes));
}

#[test]
fn a_double_byte_order_mark_is_not_called_a_second_document() {
    let text = "\u{FEFF}\u{FEFF}scenario: x\nversion: 1\n";
    insta::assert_snapshot!(said("bom.yaml", text.as_bytes()));
}

#[test]
fn an_alias_bomb_names_its_anchor_and_line() {
    let text = indoc! {r#"
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    "#};
    insta::assert_snapshot!(said("bomb.yaml", text.as_bytes()));
}

#[test]
fn a_file_of_comments_only_says_so() {
    insta::assert_snapshot!(said("comments.yaml", b"# a scenario, some day\n\n# TODO\n"));
}

#[test]
fn a_dedented_limits_names_the_stray_key_and_its_indentation() {
    let text = indoc! {"
        scenario: dedent
        version: 1
        applies-to: { family: fridge-ctl }
        steps:
          - measure:
              name: idle_current
              from: psu.current
            limits:
              low: 0.04
              high: 0.08
    "};
    insta::assert_snapshot!(said("dedent.yaml", text.as_bytes()));
}

#[test]
fn a_tab_is_reported_at_its_own_line() {
    let text = "scenario: tab\nversion: 1\napplies-to: { family: fridge-ctl }\nsteps:\n  - power: on\n\t- power: off\n";
    insta::assert_snapshot!(said("tab.yaml", text.as_bytes()));
}

#[test]
fn an_over_indented_key_gets_the_indentation_it_needs() {
    let text = indoc! {"
        scenario: over
        version: 1
        applies-to: { family: fridge-ctl }
        steps:
          - power: on
          - measure:
              name: idle_current
                from: psu.current
    "};
    insta::assert_snapshot!(said("over.yaml", text.as_bytes()));
}

#[test]
fn the_shipped_files_still_load_without_a_problem() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (_, diags) = rigor_model::load_paths(
        &["device-profiles", "rigs", "fixtures", "examples"].map(|d| root.join(d)),
    );
    assert!(diags.is_empty(), "{diags:?}");
}
