//! `rigor image` as a CI pipeline and a station use it: a key, a signed build, and the check a
//! profile's rules make of it (pass, tampered, downgrade, wrong generation).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::text;

use std::process::Output;

fn rigor(args: &[&str]) -> Output {
    common::rigor().args(args).output().unwrap()
}

#[test]
fn a_build_signed_in_ci_is_checked_against_the_profile_as_a_station_would() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();

    // A key of our own: the shipped gen2 profile does not trust it.
    let out = rigor(&["image", "keygen", "--out", &p("ci.pem")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("public key (for a profile's trusted-keys): "));
    std::fs::write(p("fw.elf"), b"\x7fELF a build").unwrap();
    let sign = |version: &str, generation: &str| {
        rigor(&[
            "image",
            "sign",
            &p("fw.elf"),
            "--key",
            &p("ci.pem"),
            "--family",
            "fridge-ctl",
            "--generation",
            generation,
            "--version",
            version,
        ])
    };
    assert_eq!(sign("2.2.0", "gen2").status.code(), Some(0));
    let out = rigor(&[
        "image",
        "verify",
        &p("fw.elf"),
        "--profile",
        "fridge-ctl-gen2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("which gen2 does not trust; it trusts release-2023"),
        "{}",
        text(&out)
    );

    // Signed with the key gen2 trusts (the demo's), it passes; each way to be wrong is refused.
    let image =
        rigor_bench::firmware::write_build(dir.path(), "fridge-ctl", "gen2", "2.2.0").unwrap();
    let image = image.display().to_string();
    let out = rigor(&["image", "verify", &image, "--profile", "fridge-ctl-gen2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("ok: ")
            && text(&out).contains("fridge-ctl/gen2 2.2.0, signed by release-2023")
    );
    let out = rigor(&["image", "verify", &image, "--profile", "fridge-ctl-gen3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("which gen3 does not trust"),
        "{}",
        text(&out)
    );
    std::fs::write(&image, b"tampered").unwrap();
    let out = rigor(&["image", "verify", &image, "--profile", "fridge-ctl-gen2"]);
    assert!(
        text(&out).contains("is not the one its manifest describes"),
        "{}",
        text(&out)
    );
    rigor_bench::firmware::write_build(dir.path(), "fridge-ctl", "gen2", "1.9.0").unwrap();
    let out = rigor(&["image", "verify", &image, "--profile", "fridge-ctl-gen2"]);
    assert!(
        text(&out).contains("below gen2's anti-rollback floor 2.0.0"),
        "{}",
        text(&out)
    );
}
