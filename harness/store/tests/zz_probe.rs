#![allow(clippy::unwrap_used, missing_docs)]
mod common;
use common::*;
use rusqlite::StatementStatus;
#[test]
fn probe() {
    let tmp = TempStore::new();
    let mut store = tmp.open();
    let run = store.begin_run(&start("SN1", "boot", 1)).unwrap();
    store.record_measurement(run.id, &measurement(0, 3.3)).unwrap();
    drop(store);
    let conn = tmp.raw();
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).unwrap();
    for sql in [
        "SELECT EXISTS (SELECT 1 FROM run_ends WHERE run_id = ?1) FROM runs WHERE id = ?1",
        "SELECT coalesce(max(seq) + 1, 0) FROM measurements WHERE run_id = ?1",
        "SELECT EXISTS (SELECT 1 FROM steps WHERE run_id = ?1 AND step_index = ?1)",
        "SELECT seq + 1 FROM measurements WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1",
        "SELECT max(seq) FROM measurements WHERE run_id = ?1",
        "SELECT attempt + 1 FROM runs WHERE unit_serial = ?1 AND scenario_name = ?1 ORDER BY attempt DESC LIMIT 1",
        "SELECT coalesce(max(attempt), 0) + 1 FROM runs WHERE unit_serial = ?1 AND scenario_name = ?1",
        "SELECT count(*) FROM runs WHERE id = ?1",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        for i in 0..10i64 {
            let _ = stmt.query_row([i % 2 + 1], |r| r.get::<_, rusqlite::types::Value>(0));
        }
        println!("{} reprepares: {sql}", stmt.get_status(StatementStatus::RePrepare));
    }
}
