//! Opening files: new, older, newer, foreign.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use common::TempStore;
use rigor_store::{SCHEMA_VERSION, Store, StoreError};

#[test]
fn an_empty_file_is_migrated_to_the_current_schema() {
    let tmp = TempStore::new();
    std::fs::File::create(&tmp.path).unwrap();
    let store = Store::open(&tmp.path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    drop(store);
    // Reopening an up-to-date file changes nothing.
    assert_eq!(tmp.open().schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_file_from_a_newer_rigor_is_refused_and_left_alone() {
    let tmp = TempStore::new();
    drop(tmp.open());
    let newer = SCHEMA_VERSION + 1;
    tmp.raw()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = Store::open(&tmp.path).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION }
            if found == i64::from(newer)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "store schema version {newer} is newer than version {SCHEMA_VERSION}, the newest \
             this rigor knows; upgrade rigor"
        )
    );
    let version: u32 = tmp
        .raw()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer);
}

#[test]
fn a_file_that_is_not_a_database_is_an_open_error() {
    let tmp = TempStore::new();
    std::fs::write(
        &tmp.path,
        "this is not sqlite, it is a text file of some length\n".repeat(20),
    )
    .unwrap();
    let err = Store::open(&tmp.path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot open store {}", tmp.path.display())
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn another_applications_database_is_refused() {
    let tmp = TempStore::new();
    tmp.raw()
        .execute_batch("CREATE TABLE inventory (sku TEXT)")
        .unwrap();
    let err = Store::open(&tmp.path).unwrap_err();
    assert!(matches!(err, StoreError::NotARigorStore { .. }), "{err:?}");
}

/// Issue 9.1 (a damaged b-tree page): a store whose schema page SQLite cannot read is refused
/// with SQLite's reason, the path, and what to do, not "cannot open store".
#[test]
fn a_store_with_a_damaged_schema_page_says_so_and_how_to_recover() {
    let tmp = TempStore::new();
    drop(tmp.open());
    // Page 1's b-tree header follows the 100-byte file header: an impossible page type there.
    let mut bytes = std::fs::read(&tmp.path).unwrap();
    bytes[100..108].fill(0xFF);
    std::fs::write(&tmp.path, bytes).unwrap();
    let err = Store::open(&tmp.path).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    let path = tmp.path.display();
    assert_eq!(
        err.to_string(),
        format!(
            "the store {path} is damaged (database disk image is malformed), so rigor cannot \
             record into it: keep a copy of it as it is, recover what SQLite can read with \
             `sqlite3 {path} .recover > recovered.sql`, and record into a new store"
        )
    );
}
