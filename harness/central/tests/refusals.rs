//! What the central store refuses, and the errors a station gets: roles, append-only triggers,
//! a wrong password, an unreachable host, a database of another schema version.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::time::Duration;

use common::{Central, fast_options, station_store};
use rigor_central::{CentralConfig, CentralError, is_permanent, push};
use rigor_store::Store;
use tokio_postgres::error::SqlState;

async fn refused(central: &CentralConfig, sql: &str) -> tokio_postgres::Error {
    let client = central.connect().await.unwrap();
    match client.batch_execute(sql).await {
        Ok(()) => panic!("`{sql}` was allowed"),
        Err(e) => e,
    }
}

fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error().unwrap().message().to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn roles_and_triggers_keep_the_record_append_only() {
    let central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(station_store(dir.path(), "line1", 5, 5, 1_700_000_000)).unwrap();
    push(
        &mut store,
        &central.station(),
        &fast_options(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    // The station role inserts; it cannot change, remove or even read records.
    for sql in [
        "UPDATE runs SET operator = 'x'",
        "DELETE FROM measurements",
        "TRUNCATE steps",
        "SELECT * FROM runs",
        "SELECT content FROM artifact_blobs",
    ] {
        let err = refused(&central.station(), sql).await;
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err:?}"
        );
    }
    // The analyst reads everything and writes nothing.
    for sql in [
        "INSERT INTO units VALUES ('X', 'f', 'g', 0)",
        "UPDATE runs SET operator = 'x'",
        "DELETE FROM run_ends",
    ] {
        let err = refused(&central.analyst(), sql).await;
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err:?}"
        );
    }
    let analyst = central.analyst().connect().await.unwrap();
    let runs: i64 = analyst
        .query_one("SELECT count(*) FROM run_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(runs, 5);
    // Even the owner (a superuser here) meets the triggers.
    for (sql, op, table) in [
        ("UPDATE runs SET operator = 'x'", "UPDATE", "runs"),
        ("DELETE FROM measurements", "DELETE", "measurements"),
        ("TRUNCATE steps CASCADE", "TRUNCATE", "steps"),
        (
            "UPDATE rigor_schema SET version = 9",
            "UPDATE",
            "rigor_schema",
        ),
    ] {
        let err = refused(&central.owner(), sql).await;
        assert_eq!(
            message(&err),
            format!("rigor central store is append-only: {op} on {table} refused"),
            "{sql}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_password_unreachable_host_and_other_schema_versions_are_clear_errors() {
    let mut central = Central::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(station_store(dir.path(), "line1", 3, 3, 1_700_000_000)).unwrap();
    let give_up = Duration::from_millis(300);

    let wrong = CentralConfig::parse(&central.url_as("line1", "nope")).unwrap();
    let err = push(&mut store, &wrong, &fast_options(), give_up)
        .await
        .unwrap_err();
    assert!(matches!(err, CentralError::Connect { .. }), "{err:?}");
    assert_eq!(err.sql_state(), Some(&SqlState::INVALID_PASSWORD));
    assert!(is_permanent(&err));
    let text = rigor_central::chain(&err);
    assert!(
        text.contains("password authentication failed for user \"line1\""),
        "{text}"
    );
    // The failure is logged where `rigor store status` finds it.
    let status = store.forward_status(wrong.target()).unwrap();
    assert!(
        status
            .last_error
            .unwrap()
            .1
            .contains("password authentication failed")
    );

    // A database nobody migrated.
    central.cluster.psql("CREATE DATABASE empty").unwrap();
    let empty =
        CentralConfig::parse(&central.cluster.superuser_url().replace("/rigor", "/empty")).unwrap();
    let err = push(&mut store, &empty, &fast_options(), give_up)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the central store {} has no rigor schema; run `rigor central migrate --url …` as \
             its owner",
            empty.target()
        )
    );

    // A database a newer rigor migrated.
    let newer = rigor_central::CENTRAL_SCHEMA_VERSION + 1;
    central
        .cluster
        .psql(&format!(
            "INSERT INTO rigor_schema (version) VALUES ({newer})"
        ))
        .unwrap();
    let err = push(&mut store, &central.station(), &fast_options(), give_up)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the central store {} is at schema version {newer}, this rigor writes version {}; a \
             newer rigor migrated it; upgrade this station's rigor",
            central.station().target(),
            rigor_central::CENTRAL_SCHEMA_VERSION
        )
    );
    let owner = central.owner();
    let mut client = owner.connect().await.unwrap();
    let err = rigor_central::migrate(&mut client, owner.target())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CentralError::SchemaMismatch { found, .. } if found == newer),
        "{err:?}"
    );

    // Nobody listening: retried with backoff until the deadline, then a connect error.
    let port = central.cluster.port();
    central.cluster.stop().unwrap();
    let gone = central.station();
    let err = push(&mut store, &gone, &fast_options(), give_up)
        .await
        .unwrap_err();
    assert!(matches!(err, CentralError::Connect { .. }), "{err:?}");
    assert!(!is_permanent(&err));
    let text = rigor_central::chain(&err);
    assert!(
        text.starts_with(&format!(
            "cannot connect to the central store postgres://127.0.0.1:{port}/rigor"
        )),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
}
