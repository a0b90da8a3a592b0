//! Global identity: the store's station id and each run's UUID, so records from many stations
//! can meet in one central store without clashing (`runs.id` is only unique within one file).

use rusqlite::OptionalExtension;
use uuid::Uuid;

use crate::error::StoreError;
use crate::store::Store;
use crate::types::RunId;

impl Store {
    /// This store's station id: a random UUID made when the store was created (or migrated to
    /// schema version 3), the same for as long as the file lives.
    pub fn station_id(&self) -> Result<Uuid, StoreError> {
        let text: String = self
            .conn
            .prepare_cached("SELECT station_uuid FROM station_identity")?
            .query_row([], |row| row.get(0))?;
        parse("station_identity.station_uuid", text)
    }

    /// The globally unique id of `run`: a UUID v7 (its start time in milliseconds, then random
    /// bits) assigned in the transaction that recorded its start.
    pub fn run_uuid(&self, run: RunId) -> Result<Uuid, StoreError> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT uuid FROM run_uuids WHERE run_id = ?1")?
            .query_row([run], |row| row.get(0))
            .optional()?;
        parse("run_uuids.uuid", text.ok_or(StoreError::UnknownRun(run))?)
    }
}

/// Parses a UUID the schema stored as text.
pub(crate) fn parse(field: &'static str, text: String) -> Result<Uuid, StoreError> {
    Uuid::parse_str(&text).map_err(|_| StoreError::Invalid {
        field,
        value: text,
        expected: "a UUID",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::MIGRATIONS;
    use rusqlite::Connection;

    #[test]
    fn station_id_is_stable_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rigor.db");
        let first = Store::open(&path).unwrap().station_id().unwrap();
        let second = Store::open(&path).unwrap().station_id().unwrap();
        assert_eq!(first, second);
        assert_eq!(first.get_version_num(), 4);
        let other = Store::open_in_memory().unwrap().station_id().unwrap();
        assert_ne!(first, other);
    }

    #[test]
    fn runs_recorded_before_version_3_get_a_uuid_v7_from_their_start() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate_with(&mut conn, &MIGRATIONS[..2]).unwrap();
        // 2026-01-01T00:00:00Z
        let started_ms: i64 = 1_767_225_600_000;
        conn.execute_batch(&format!(
            "INSERT INTO units VALUES ('SN1', 'fam', 'gen1', 0);
             INSERT INTO runs (unit_serial, scenario_name, scenario_version, scenario_sha256,
                 attempt, station, rig, slot, operator, limits_sha256, started_at_us)
             VALUES ('SN1', 'smoke', '1', '{h}', 1, 'st', 'rig', 's1', 'op', '{h}', {us}),
                    ('SN1', 'smoke', '1', '{h}', 2, 'st', 'rig', 's1', 'op', '{h}', {us});",
            h = "a".repeat(64),
            us = started_ms * 1000
        ))
        .unwrap();
        crate::migrate::migrate(&mut conn).unwrap();
        let store = Store {
            conn,
            next_seq: Default::default(),
        };
        let one = store.run_uuid(RunId(1)).unwrap();
        let two = store.run_uuid(RunId(2)).unwrap();
        assert_ne!(one, two);
        for uuid in [one, two] {
            assert_eq!(uuid.get_version_num(), 7);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = uuid.get_timestamp().unwrap().to_unix();
            assert_eq!(
                secs as i64 * 1000 + i64::from(nanos / 1_000_000),
                started_ms
            );
        }
        assert!(matches!(
            store.run_uuid(RunId(3)),
            Err(StoreError::UnknownRun(RunId(3)))
        ));
        // A run inserted by hand after the migration (as analysts' generators do) gets one too.
        store
            .conn
            .execute_batch(&format!(
                "INSERT INTO runs (unit_serial, scenario_name, scenario_version, scenario_sha256,
                     attempt, station, rig, slot, operator, limits_sha256, started_at_us)
                 VALUES ('SN1', 'smoke', '1', '{h}', 3, 'st', 'rig', 's1', 'op', '{h}', {us})",
                h = "a".repeat(64),
                us = started_ms * 1000 + 5000
            ))
            .unwrap();
        let three = store.run_uuid(RunId(3)).unwrap();
        assert_eq!(three.get_version_num(), 7);
        let (secs, nanos) = three.get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs as i64 * 1000 + i64::from(nanos / 1_000_000),
            started_ms + 5
        );
    }
}
