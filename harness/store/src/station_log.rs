//! A factory station's own records beside the runs (the `station_log` table), and the questions
//! its screen asks of the store: may this unit be retested, how worn is this fixture, how is
//! the day going.

use rusqlite::{OptionalExtension, params};

use crate::error::StoreError;
use crate::store::Store;
use crate::types::Timestamp;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationActionKind {
    /// The unit failed more often than the retest limit allows: it goes to repair.
    SendToRepair,
    /// A technician recorded the unit repaired: it may be tested again.
    Repaired,
    /// A technician serviced a slot's fixture: its wear counts from zero again.
    Maintenance,
    /// A technician allowed one more test of a unit sent to repair.
    RetestOverride,
    /// A slot's run was stopped.
    Abort,
    /// Every slot's run was stopped.
    AbortAll,
}

impl StationActionKind {
    /// The name the store keeps.
    pub fn name(self) -> &'static str {
        match self {
            StationActionKind::SendToRepair => "send-to-repair",
            StationActionKind::Repaired => "repaired",
            StationActionKind::Maintenance => "maintenance",
            StationActionKind::RetestOverride => "retest-override",
            StationActionKind::Abort => "abort",
            StationActionKind::AbortAll => "abort-all",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationRole {
    /// The person testing units.
    Operator,
    /// The person who maintains the station.
    Technician,
    /// The station itself (a rule it applied).
    Station,
}

impl StationRole {
    fn name(self) -> &'static str {
        match self {
            StationRole::Operator => "operator",
            StationRole::Technician => "technician",
            StationRole::Station => "station",
        }
    }
}

/// One entry of the station log.
#[derive(Debug, Clone)]
pub struct StationAction {
    /// When.
    pub at: Timestamp,
    /// The station's id.
    pub station: String,
    /// The rig.
    pub rig: String,
    /// The slot, when it concerns one.
    pub slot: Option<String>,
    /// What.
    pub kind: StationActionKind,
    /// The unit, when it concerns one.
    pub unit: Option<String>,
    /// The fixture and its insertion count at the time, for maintenance.
    pub fixture: Option<(String, u32)>,
    /// Who (badge id).
    pub person: String,
    /// In which role.
    pub role: StationRole,
    /// Why, in their words.
    pub note: Option<String>,
}

/// A fixture's wear in one rig slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixtureWear {
    /// Insertions since it was made (as counted in this store).
    pub total: u32,
    /// Insertions since its last recorded maintenance.
    pub since_maintenance: u32,
}

/// A failure and how often it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopFailure {
    /// The failing measurement's name, `rig problem` for the rig's failures, or the run's
    /// message.
    pub what: String,
    /// How many runs failed so.
    pub count: u32,
}

/// A station's figures since a time (the start of the day, say).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StationDay {
    /// Units tested.
    pub units: u32,
    /// Of those first tested in the period, how many; and how many passed every run of their
    /// first attempt.
    pub first_tested: u32,
    /// See `first_tested`.
    pub first_pass: u32,
    /// Average time from a unit's first run start to its last run end, in seconds.
    pub average_seconds: Option<f64>,
    /// The most frequent failures, most frequent first.
    pub top_failures: Vec<TopFailure>,
}

impl Store {
    /// Appends an entry to the station log.
    pub fn record_station_action(&mut self, a: &StationAction) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO station_log (at_us, station, rig, slot, action, unit_serial, fixture_id, \
             fixture_insertions, person, role, note) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                a.at.as_micros(),
                a.station,
                a.rig,
                a.slot,
                a.kind.name(),
                a.unit,
                a.fixture.as_ref().map(|f| &f.0),
                a.fixture.as_ref().map(|f| f.1),
                a.person,
                a.role.name(),
                a.note,
            ],
        )?;
        Ok(())
    }

    /// When the unit was last recorded repaired, if ever.
    fn last_repair(&self, serial: &str) -> Result<i64, StoreError> {
        let at: Option<i64> = self.conn.query_row(
            "SELECT max(at_us) FROM station_log WHERE unit_serial = ?1 AND action = 'repaired'",
            [serial],
            |row| row.get(0),
        )?;
        Ok(at.unwrap_or(i64::MIN))
    }

    /// How many of the unit's runs failed (the device, not the rig) since its last repair.
    pub fn failures_since_repair(&self, serial: &str) -> Result<u32, StoreError> {
        let since = self.last_repair(serial)?;
        Ok(self.conn.query_row(
            "SELECT count(*) FROM run_summary WHERE unit_serial = ?1 AND outcome = 'fail' \
             AND started_at_us > ?2",
            params![serial, since],
            |row| row.get(0),
        )?)
    }

    /// Whether the unit was sent to repair and not repaired since; a technician's retest
    /// override after the sending counts as a repair for one more test.
    pub fn awaits_repair(&self, serial: &str) -> Result<bool, StoreError> {
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT action FROM station_log WHERE unit_serial = ?1 \
                 AND action IN ('send-to-repair', 'repaired', 'retest-override') \
                 ORDER BY at_us DESC, id DESC LIMIT 1",
                [serial],
                |row| row.get(0),
            )
            .optional()?;
        Ok(last.as_deref() == Some("send-to-repair"))
    }

    /// The wear of `fixture` in `rig`'s `slot`.
    pub fn fixture_wear(
        &self,
        rig: &str,
        slot: &str,
        fixture: &str,
    ) -> Result<FixtureWear, StoreError> {
        let total: u32 = self.conn.query_row(
            "SELECT coalesce(max(fixture_insertions), 0) FROM runs \
             WHERE rig = ?1 AND slot = ?2 AND fixture_id = ?3",
            params![rig, slot, fixture],
            |row| row.get(0),
        )?;
        let serviced: Option<u32> = self
            .conn
            .query_row(
                "SELECT fixture_insertions FROM station_log WHERE rig = ?1 AND slot = ?2 \
             AND fixture_id = ?3 AND action = 'maintenance' ORDER BY at_us DESC, id DESC LIMIT 1",
                params![rig, slot, fixture],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        Ok(FixtureWear {
            total,
            since_maintenance: total.saturating_sub(serviced.unwrap_or(0)),
        })
    }

    /// The station's figures on `rig` since `since`.
    pub fn station_day(&self, rig: &str, since: Timestamp) -> Result<StationDay, StoreError> {
        let since = since.as_micros();
        let units: u32 = self.conn.query_row(
            "SELECT count(DISTINCT unit_serial) FROM runs WHERE rig = ?1 AND started_at_us >= ?2",
            params![rig, since],
            |row| row.get(0),
        )?;
        // A unit's first test: the attempt-1 runs of units whose first run is in the period.
        let (first_tested, first_pass): (u32, u32) = self.conn.query_row(
            "WITH firsts AS ( \
               SELECT r.unit_serial, min(CASE WHEN s.outcome = 'pass' THEN 1 ELSE 0 END) AS ok \
               FROM runs r JOIN run_summary s ON s.run_id = r.id \
               WHERE r.rig = ?1 AND r.attempt = 1 \
                 AND r.unit_serial NOT IN (SELECT unit_serial FROM run_summary \
                                           WHERE outcome = 'incomplete') \
                 AND r.unit_serial IN (SELECT unit_serial FROM runs GROUP BY unit_serial \
                                       HAVING min(started_at_us) >= ?2) \
               GROUP BY r.unit_serial) \
             SELECT count(*), coalesce(sum(ok), 0) FROM firsts",
            params![rig, since],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let average_seconds: Option<f64> = self.conn.query_row(
            "SELECT avg(span) / 1e6 FROM ( \
               SELECT max(s.ended_at_us) - min(s.started_at_us) AS span FROM run_summary s \
               WHERE s.rig = ?1 AND s.started_at_us >= ?2 AND s.ended_at_us IS NOT NULL \
               GROUP BY s.unit_serial)",
            params![rig, since],
            |row| row.get(0),
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT what, count(*) AS n FROM ( \
               SELECT coalesce( \
                 (SELECT m.name FROM measurements m WHERE m.run_id = s.run_id \
                  AND m.outcome = 'fail' ORDER BY m.seq LIMIT 1), \
                 CASE s.failure_class WHEN 'infrastructure' THEN 'rig problem' \
                                      ELSE s.message END, \
                 s.outcome) AS what \
               FROM run_summary s \
               WHERE s.rig = ?1 AND s.started_at_us >= ?2 AND s.outcome IN ('fail', 'error')) \
             GROUP BY what ORDER BY n DESC, what LIMIT 3",
        )?;
        let top_failures = stmt
            .query_map(params![rig, since], |row| {
                Ok(TopFailure {
                    what: row.get(0)?,
                    count: row.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(StationDay {
            units,
            first_tested,
            first_pass,
            average_seconds,
            top_failures,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn action(kind: StationActionKind, unit: Option<&str>) -> StationAction {
        StationAction {
            at: Timestamp::now(),
            station: "sim-1".into(),
            rig: "virtual-bench".into(),
            slot: Some("slot1".into()),
            kind,
            unit: unit.map(str::to_owned),
            fixture: None,
            person: "T-7".into(),
            role: StationRole::Technician,
            note: None,
        }
    }

    #[test]
    fn a_unit_sent_to_repair_waits_until_repaired_and_the_log_is_append_only() {
        let mut store = Store::open_in_memory().unwrap();
        assert!(!store.awaits_repair("FC2-000201").unwrap());
        store
            .record_station_action(&action(StationActionKind::SendToRepair, Some("FC2-000201")))
            .unwrap();
        assert!(store.awaits_repair("FC2-000201").unwrap());
        store
            .record_station_action(&action(StationActionKind::Repaired, Some("FC2-000201")))
            .unwrap();
        assert!(!store.awaits_repair("FC2-000201").unwrap());
        let err = store
            .conn
            .execute("DELETE FROM station_log", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }

    #[test]
    fn maintenance_restarts_a_fixtures_wear() {
        let mut store = Store::open_in_memory().unwrap();
        let mut m = action(StationActionKind::Maintenance, None);
        m.fixture = Some(("fx-fridge-gen2".into(), 0));
        store.record_station_action(&m).unwrap();
        let wear = store
            .fixture_wear("virtual-bench", "slot1", "fx-fridge-gen2")
            .unwrap();
        assert_eq!(wear, FixtureWear::default());
    }
}
