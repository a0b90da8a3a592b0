//! The schema, as an ordered list of migrations. A released migration is never edited: a change
//! is a new entry at the end.
//!
//! # Tables (version 1)
//! Times are `*_us` integers, microseconds since the Unix epoch (UTC); `run_summary` adds an
//! RFC 3339 `started_at` for people. Digests are 64 lowercase hex digits (SHA-256).
//!
//! - `units`: one row per serial, written with the unit's first run.
//! - `runs`: one row per run, written at its start, with the attempt number per
//!   unit × scenario name.
//! - `run_ends`: at most one row per run, written at its end; a run without one is incomplete.
//! - `steps`: one row per executed step, written when it ends.
//! - `measurements`: one row per judged value, keyed by run and `seq` (its position in the
//!   run's recording order).
//!
//! Each index is one more page written per commit, and the page writes are most of a record's
//! cost, so the record tables have none beyond their keys: `steps` and `measurements` are
//! clustered by run (`WITHOUT ROWID`). An analyst may add an index (by measurement name, say);
//! every writer then pays for it.
//! - `artifact_blobs`: content by SHA-256, stored once however many runs link it.
//! - `run_artifacts`: which run (and step) produced which blob, under which name.
//!
//! Version 3 adds global identity and the forwarding state (see `V3` below): `station_identity`
//! (one row: the store's station UUID), `run_uuids` (each run's UUID v7), `forwarded_runs` (which
//! ended runs a central store holds, per target) and `forward_attempts` (each forwarding pass).
//!
//! # Append-only
//! Every table has `BEFORE UPDATE` and `BEFORE DELETE` triggers that abort with
//! `rigor store is append-only: …`, whoever connects. `INSERT OR REPLACE` would delete the old
//! row without firing delete triggers, so every table also has a `BEFORE INSERT` trigger that
//! refuses an insert whose key already exists. Steps, measurements and artifacts of a run that
//! has ended are refused too: an ended run's record is sealed.
//!
//! # Views
//! - `run_summary`: runs with their unit and end; `outcome` is `incomplete` without an end row.
//! - `unit_footprint`: each unit's first factory sequence. For each unit × scenario name, the
//!   attempts `1..=p` where `p` is the lowest attempt that passed, or every attempt when none
//!   has passed yet. Later runs (a retest after a pass, a return) are not part of it. Order by
//!   `started_at_us, run_id` for time order.
//! - `first_pass_yield` (since version 7): per scenario name × family × generation, counted as
//!   `rigor results yield` counts: each unit at its first ended attempt that judged the device
//!   (a pass, or a failure classed `device`). `units` have an ended attempt, `judged` of them
//!   were judged, `first_pass` passed at that first judged attempt, `final_pass` passed at some
//!   attempt; both yields are over `judged`. Infrastructure failures are counted beside it
//!   (`infrastructure_runs`, and `unjudged` units never judged), never against a unit.
//!   Before version 7 it counted attempt 1 whatever failed it, so a rig's fault lowered yield.
//!
//! # Checks on the record tables
//! A check on a table written per step or measurement lists at most two values with `IN`, or
//! spells the values out as comparisons: SQLite builds a temporary B-tree for a longer constant
//! `IN` list on every insert (version 8 rebuilt `steps` for this).

/// One step of the schema's history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// The `PRAGMA user_version` after this migration; versions run 1, 2, 3, … without gaps.
    pub version: u32,
    /// The SQL, run as one batch inside the upgrade transaction.
    pub sql: &'static str,
    /// Tables that `sql` drops and creates anew (SQLite changes a constraint no other way). Their
    /// indexes and triggers go with the old table: [`crate::migrate`] reads their SQL first and
    /// runs it again after, as it was, so the append-only triggers and any index an analyst added
    /// stay. `sql` runs with `legacy_alter_table` on, so renaming the new table into place leaves
    /// views that name the table as they are.
    pub rebuilds: &'static [&'static str],
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
        rebuilds: &[],
    },
    Migration {
        version: 2,
        sql: V2,
        rebuilds: &[],
    },
    Migration {
        version: 3,
        sql: V3,
        rebuilds: &[],
    },
    Migration {
        version: 4,
        sql: V4,
        rebuilds: &[],
    },
    Migration {
        version: 5,
        sql: V5,
        rebuilds: &[],
    },
    Migration {
        version: 6,
        sql: V6,
        rebuilds: &[],
    },
    Migration {
        version: 7,
        sql: V7,
        rebuilds: &[],
    },
    Migration {
        version: 8,
        sql: V8_STEPS_CHECK_WITHOUT_TEMP_TREE,
        rebuilds: &["steps"],
    },
];

/// The schema version this code writes: the last migration's.
pub const SCHEMA_VERSION: u32 = 8;

/// Version 8: `steps` rebuilt with its outcome check written as comparisons. SQLite evaluates an
/// `IN` list of more than two constants by building a temporary B-tree, once per statement run:
/// on every step recorded, about 20 000 of the writer's 72 000 instructions a step (callgrind, the
/// engine bench). The comparisons accept exactly what the list did. The rows are copied before the table's triggers come back (see
/// [`Migration::rebuilds`]), so the steps of ended runs are not refused as new ones.
const V8_STEPS_CHECK_WITHOUT_TEMP_TREE: &str = r#"
CREATE TABLE steps_v8 (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    step_index    INTEGER NOT NULL CHECK (step_index >= 0),
    step_id       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    started_at_us INTEGER NOT NULL,
    ended_at_us   INTEGER NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome = 'pass' OR outcome = 'fail'
                                          OR outcome = 'error' OR outcome = 'skipped'),
    message       TEXT,
    PRIMARY KEY (run_id, step_index)
) STRICT, WITHOUT ROWID;
INSERT INTO steps_v8 (run_id, step_index, step_id, kind, attempt, started_at_us, ended_at_us,
                      outcome, message)
SELECT run_id, step_index, step_id, kind, attempt, started_at_us, ended_at_us, outcome, message
FROM steps ORDER BY run_id, step_index;
DROP TABLE steps;
ALTER TABLE steps_v8 RENAME TO steps;
"#;

/// Version 7: `first_pass_yield` counts as `rigor results yield` and the central store do: at
/// each unit's first attempt that judged the device, infrastructure beside it.
const V7: &str = r#"
DROP VIEW first_pass_yield;
CREATE VIEW first_pass_yield AS
WITH ended AS (
    SELECT * FROM run_summary WHERE outcome <> 'incomplete'
),
first_judged AS (
    SELECT unit_serial, scenario_name, min(attempt) AS attempt
    FROM ended
    WHERE outcome = 'pass' OR failure_class IS 'device'
    GROUP BY unit_serial, scenario_name
),
per_unit AS (
    SELECT e.scenario_name, e.family, e.generation, e.unit_serial,
        sum(e.failure_class IS 'infrastructure') AS infrastructure_runs,
        max(e.outcome = 'pass') AS passed,
        max(f.attempt IS NOT NULL) AS judged,
        max(e.attempt = f.attempt AND e.outcome = 'pass') AS first_pass
    FROM ended AS e
    LEFT JOIN first_judged AS f
        ON f.unit_serial = e.unit_serial AND f.scenario_name = e.scenario_name
    GROUP BY e.scenario_name, e.family, e.generation, e.unit_serial
)
SELECT scenario_name, family, generation,
    count(*) AS units,
    sum(judged) AS judged,
    sum(first_pass) AS first_pass,
    sum(passed) AS final_pass,
    CAST(sum(first_pass) AS REAL) / nullif(sum(judged), 0) AS first_pass_yield,
    CAST(sum(passed) AS REAL) / nullif(sum(judged), 0) AS final_yield,
    sum(infrastructure_runs) AS infrastructure_runs,
    count(*) - sum(judged) AS unjudged
FROM per_unit
GROUP BY scenario_name, family, generation;
"#;

/// Version 2: the store counts a fixture's insertions when the fixture does not, by looking up
/// the highest count in its rig slot on every run start.
const V2: &str =
    "CREATE INDEX runs_by_fixture ON runs (rig, slot, fixture_id, fixture_insertions);";

/// Version 3: global identity and store-and-forward. Every store gets a stable station id (a
/// random UUID), every run a UUID v7 made from its start time (by a trigger, so
/// whoever inserts a run gives it one; runs recorded before this version get one too), and two append-only logs keep the forwarding state: which runs a central store
/// has (`forwarded_runs`, the durable high-water mark) and how each forwarding pass went
/// (`forward_attempts`).
const V3: &str = r#"
CREATE TABLE station_identity (
    singleton     INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    station_uuid  TEXT    NOT NULL CHECK (length(station_uuid) = 36),
    created_at_us INTEGER NOT NULL
) STRICT;
INSERT INTO station_identity (singleton, station_uuid, created_at_us)
SELECT 1, lower(printf('%s-%s-4%s-%x%s-%s',
                       hex(randomblob(4)), hex(randomblob(2)), substr(hex(randomblob(2)), 2),
                       8 + abs(random() % 4), substr(hex(randomblob(2)), 2), hex(randomblob(6)))),
       CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);

-- A UUID v7: 48 bits of Unix milliseconds, version 7, 74 random bits with the RFC 4122 variant.
CREATE TABLE run_uuids (
    run_id INTEGER NOT NULL PRIMARY KEY REFERENCES runs (id),
    uuid   TEXT    NOT NULL UNIQUE CHECK (length(uuid) = 36)
) STRICT;
INSERT INTO run_uuids (run_id, uuid)
SELECT id, lower(printf('%08x-%04x-7%s-%x%s-%s',
                        (started_at_us / 1000) >> 16, (started_at_us / 1000) & 65535,
                        substr(hex(randomblob(2)), 2), 8 + abs(random() % 4),
                        substr(hex(randomblob(2)), 2), hex(randomblob(6))))
FROM runs;
-- Every run gets its UUID in the transaction that records its start, whoever inserts it.
CREATE TRIGGER runs_get_a_uuid AFTER INSERT ON runs
BEGIN
    INSERT INTO run_uuids (run_id, uuid)
    VALUES (NEW.id, lower(printf('%08x-%04x-7%s-%x%s-%s',
                                 (NEW.started_at_us / 1000) >> 16,
                                 (NEW.started_at_us / 1000) & 65535,
                                 substr(hex(randomblob(2)), 2), 8 + abs(random() % 4),
                                 substr(hex(randomblob(2)), 2), hex(randomblob(6)))));
END;

CREATE TABLE forwarded_runs (
    target          TEXT    NOT NULL,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    forwarded_at_us INTEGER NOT NULL,
    PRIMARY KEY (target, run_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE forward_attempts (
    id     INTEGER NOT NULL PRIMARY KEY,
    target TEXT    NOT NULL,
    at_us  INTEGER NOT NULL,
    runs   INTEGER NOT NULL CHECK (runs >= 0),
    error  TEXT
) STRICT;

CREATE TRIGGER station_identity_no_update BEFORE UPDATE ON station_identity
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: station_identity cannot be updated'); END;
CREATE TRIGGER station_identity_no_delete BEFORE DELETE ON station_identity
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: station_identity cannot be deleted'); END;
CREATE TRIGGER run_uuids_no_update BEFORE UPDATE ON run_uuids
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_uuids cannot be updated'); END;
CREATE TRIGGER run_uuids_no_delete BEFORE DELETE ON run_uuids
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_uuids cannot be deleted'); END;
CREATE TRIGGER forwarded_runs_no_update BEFORE UPDATE ON forwarded_runs
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: forwarded_runs cannot be updated'); END;
CREATE TRIGGER forwarded_runs_no_delete BEFORE DELETE ON forwarded_runs
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: forwarded_runs cannot be deleted'); END;
CREATE TRIGGER forward_attempts_no_update BEFORE UPDATE ON forward_attempts
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: forward_attempts cannot be updated'); END;
CREATE TRIGGER forward_attempts_no_delete BEFORE DELETE ON forward_attempts
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: forward_attempts cannot be deleted'); END;
"#;

/// Version 4: `station_log`, what a factory station's people did beside the runs: a unit sent
/// to repair (the retest limit reached) and repaired, a fixture's maintenance (with its
/// insertion count then), a technician's retest override, an abort. Append-only like the rest.
const V4: &str = r#"
CREATE TABLE station_log (
    id                 INTEGER NOT NULL PRIMARY KEY,
    at_us              INTEGER NOT NULL,
    station            TEXT    NOT NULL,
    rig                TEXT    NOT NULL,
    slot               TEXT,
    action             TEXT    NOT NULL CHECK (action IN
        ('send-to-repair', 'repaired', 'maintenance', 'retest-override', 'abort', 'abort-all')),
    unit_serial        TEXT,
    fixture_id         TEXT,
    fixture_insertions INTEGER CHECK (fixture_insertions >= 0),
    person             TEXT    NOT NULL,
    role               TEXT    NOT NULL CHECK (role IN ('operator', 'technician', 'station')),
    note               TEXT
) STRICT;
CREATE INDEX station_log_by_unit ON station_log (unit_serial, at_us);
CREATE TRIGGER station_log_no_update BEFORE UPDATE ON station_log
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: station_log cannot be updated'); END;
CREATE TRIGGER station_log_no_delete BEFORE DELETE ON station_log
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: station_log cannot be deleted'); END;
CREATE TRIGGER station_log_no_replace BEFORE INSERT ON station_log
WHEN EXISTS (SELECT 1 FROM station_log WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: station log entry already recorded'); END;
"#;

/// Version 5: multi-device sessions. A run that is one unit of a multi-device scenario has a
/// `run_sessions` row: the session's id (shared by every unit's run) and the unit's role. A
/// table beside `runs` rather than a column of it, so runs from before (and every single-device
/// run) simply have no row: they belonged to no session, and no id invented for them could say
/// otherwise. `session_runs` lists the runs of each session with their outcome.
const V5: &str = r#"
CREATE TABLE run_sessions (
    run_id     INTEGER NOT NULL PRIMARY KEY REFERENCES runs (id),
    session_id TEXT    NOT NULL CHECK (session_id <> ''),
    role       TEXT    NOT NULL CHECK (role <> '')
) STRICT;
CREATE INDEX run_sessions_by_session ON run_sessions (session_id);
CREATE TRIGGER run_sessions_no_update BEFORE UPDATE ON run_sessions
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_sessions cannot be updated'); END;
CREATE TRIGGER run_sessions_no_delete BEFORE DELETE ON run_sessions
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_sessions cannot be deleted'); END;
CREATE TRIGGER run_sessions_no_replace BEFORE INSERT ON run_sessions
WHEN EXISTS (SELECT 1 FROM run_sessions WHERE run_id = NEW.run_id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run session already recorded'); END;
CREATE VIEW session_runs AS
SELECT ss.session_id, ss.role, s.*
FROM run_sessions AS ss
JOIN run_summary AS s ON s.run_id = ss.run_id;
"#;

/// Version 6: `replayed_spills`, the spill files (records the store could not take when they
/// happened, kept beside it) already replayed into it, by the id in their header, so a spill is
/// replayed exactly once even if rigor dies between the replay's commit and the file's removal.
const V6: &str = r#"
CREATE TABLE replayed_spills (
    spill_uuid     TEXT    NOT NULL PRIMARY KEY CHECK (length(spill_uuid) = 36),
    records        INTEGER NOT NULL CHECK (records >= 0),
    refused        INTEGER NOT NULL CHECK (refused >= 0),
    replayed_at_us INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TRIGGER replayed_spills_no_update BEFORE UPDATE ON replayed_spills
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: replayed_spills cannot be updated'); END;
CREATE TRIGGER replayed_spills_no_delete BEFORE DELETE ON replayed_spills
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: replayed_spills cannot be deleted'); END;
"#;

/// `PRAGMA application_id` of a rigor store (`rgr1` in ASCII), so rigor never migrates some other
/// application's database.
pub(crate) const APPLICATION_ID: i32 = 0x7267_7231;

const V1: &str = r#"
CREATE TABLE units (
    serial        TEXT    NOT NULL PRIMARY KEY CHECK (length(serial) > 0),
    family        TEXT    NOT NULL,
    generation    TEXT    NOT NULL,
    first_seen_us INTEGER NOT NULL
) STRICT;

CREATE TABLE runs (
    id                 INTEGER NOT NULL PRIMARY KEY,
    unit_serial        TEXT    NOT NULL REFERENCES units (serial),
    scenario_name      TEXT    NOT NULL CHECK (length(scenario_name) > 0),
    scenario_version   TEXT    NOT NULL,
    scenario_sha256    TEXT    NOT NULL
        CHECK (length(scenario_sha256) = 64 AND scenario_sha256 NOT GLOB '*[^0-9a-f]*'),
    attempt            INTEGER NOT NULL CHECK (attempt >= 1),
    station            TEXT    NOT NULL,
    rig                TEXT    NOT NULL,
    slot               TEXT    NOT NULL,
    fixture_id         TEXT,
    fixture_insertions INTEGER CHECK (fixture_insertions >= 0),
    operator           TEXT    NOT NULL,
    firmware_sha256    TEXT
        CHECK (length(firmware_sha256) = 64 AND firmware_sha256 NOT GLOB '*[^0-9a-f]*'),
    firmware_version   TEXT,
    limits_sha256      TEXT    NOT NULL
        CHECK (length(limits_sha256) = 64 AND limits_sha256 NOT GLOB '*[^0-9a-f]*'),
    started_at_us      INTEGER NOT NULL,
    CHECK ((fixture_id IS NULL) = (fixture_insertions IS NULL)),
    CHECK (firmware_version IS NULL OR firmware_sha256 IS NOT NULL),
    UNIQUE (unit_serial, scenario_name, attempt)
) STRICT;

CREATE TABLE run_ends (
    run_id        INTEGER NOT NULL PRIMARY KEY REFERENCES runs (id),
    ended_at_us   INTEGER NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('pass', 'fail', 'error', 'aborted')),
    failure_class TEXT    CHECK (failure_class IN ('infrastructure', 'device', 'scenario')),
    message       TEXT,
    CHECK (CASE outcome
               WHEN 'pass' THEN failure_class IS NULL
               WHEN 'aborted' THEN 1
               ELSE failure_class IS NOT NULL
           END)
) STRICT;

CREATE TABLE steps (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    step_index    INTEGER NOT NULL CHECK (step_index >= 0),
    step_id       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    started_at_us INTEGER NOT NULL,
    ended_at_us   INTEGER NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('pass', 'fail', 'error', 'skipped')),
    message       TEXT,
    PRIMARY KEY (run_id, step_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE measurements (
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    seq            INTEGER NOT NULL CHECK (seq >= 0),
    step_index     INTEGER NOT NULL CHECK (step_index >= 0),
    name           TEXT    NOT NULL CHECK (length(name) > 0),
    value          REAL,
    text_value     TEXT,
    unit           TEXT,
    comparator     TEXT    NOT NULL,
    low            REAL,
    low_inclusive  INTEGER NOT NULL CHECK (low_inclusive IN (0, 1)),
    high           REAL,
    high_inclusive INTEGER NOT NULL CHECK (high_inclusive IN (0, 1)),
    marginal_low   REAL,
    marginal_high  REAL,
    marginal       INTEGER NOT NULL CHECK (marginal IN (0, 1)),
    outcome        TEXT    NOT NULL CHECK (outcome IN ('pass', 'fail')),
    measured_at_us INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq),
    CHECK (NOT (marginal = 1 AND outcome = 'fail'))
) STRICT, WITHOUT ROWID;

CREATE TABLE artifact_blobs (
    sha256  TEXT    NOT NULL PRIMARY KEY
        CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    size    INTEGER NOT NULL CHECK (size = length(content)),
    content BLOB    NOT NULL
) STRICT;

CREATE TABLE run_artifacts (
    id         INTEGER NOT NULL PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    step_index INTEGER CHECK (step_index >= 0),
    name       TEXT    NOT NULL CHECK (length(name) > 0),
    media_type TEXT    NOT NULL CHECK (media_type LIKE '_%/_%'),
    sha256     TEXT    NOT NULL REFERENCES artifact_blobs (sha256)
) STRICT;
CREATE INDEX run_artifacts_by_run ON run_artifacts (run_id);
CREATE INDEX run_artifacts_by_blob ON run_artifacts (sha256);

-- Append-only: no updates, no deletes, on any table.
CREATE TRIGGER units_no_update BEFORE UPDATE ON units
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: units cannot be updated'); END;
CREATE TRIGGER units_no_delete BEFORE DELETE ON units
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: units cannot be deleted'); END;
CREATE TRIGGER runs_no_update BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: runs cannot be updated'); END;
CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: runs cannot be deleted'); END;
CREATE TRIGGER run_ends_no_update BEFORE UPDATE ON run_ends
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_ends cannot be updated'); END;
CREATE TRIGGER run_ends_no_delete BEFORE DELETE ON run_ends
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_ends cannot be deleted'); END;
CREATE TRIGGER steps_no_update BEFORE UPDATE ON steps
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: steps cannot be updated'); END;
CREATE TRIGGER steps_no_delete BEFORE DELETE ON steps
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: steps cannot be deleted'); END;
CREATE TRIGGER measurements_no_update BEFORE UPDATE ON measurements
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: measurements cannot be updated'); END;
CREATE TRIGGER measurements_no_delete BEFORE DELETE ON measurements
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: measurements cannot be deleted'); END;
CREATE TRIGGER artifact_blobs_no_update BEFORE UPDATE ON artifact_blobs
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: artifact_blobs cannot be updated'); END;
CREATE TRIGGER artifact_blobs_no_delete BEFORE DELETE ON artifact_blobs
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: artifact_blobs cannot be deleted'); END;
CREATE TRIGGER run_artifacts_no_update BEFORE UPDATE ON run_artifacts
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_artifacts cannot be updated'); END;
CREATE TRIGGER run_artifacts_no_delete BEFORE DELETE ON run_artifacts
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run_artifacts cannot be deleted'); END;

-- No INSERT OR REPLACE over an existing key (REPLACE deletes without firing delete triggers).
CREATE TRIGGER units_no_replace BEFORE INSERT ON units
WHEN EXISTS (SELECT 1 FROM units WHERE serial = NEW.serial)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: unit already recorded'); END;
CREATE TRIGGER runs_no_replace BEFORE INSERT ON runs
WHEN EXISTS (SELECT 1 FROM runs WHERE id = NEW.id)
  OR EXISTS (SELECT 1 FROM runs WHERE unit_serial = NEW.unit_serial
             AND scenario_name = NEW.scenario_name AND attempt = NEW.attempt)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run already recorded'); END;
CREATE TRIGGER run_ends_once BEFORE INSERT ON run_ends
WHEN EXISTS (SELECT 1 FROM run_ends WHERE run_id = NEW.run_id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run has already ended'); END;
CREATE TRIGGER steps_no_replace BEFORE INSERT ON steps
WHEN EXISTS (SELECT 1 FROM steps WHERE run_id = NEW.run_id AND step_index = NEW.step_index)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: step already recorded'); END;
CREATE TRIGGER measurements_no_replace BEFORE INSERT ON measurements
WHEN EXISTS (SELECT 1 FROM measurements WHERE run_id = NEW.run_id AND seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: measurement already recorded'); END;
CREATE TRIGGER artifact_blobs_no_replace BEFORE INSERT ON artifact_blobs
WHEN EXISTS (SELECT 1 FROM artifact_blobs WHERE sha256 = NEW.sha256)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: blob already stored'); END;
CREATE TRIGGER run_artifacts_no_replace BEFORE INSERT ON run_artifacts
WHEN EXISTS (SELECT 1 FROM run_artifacts WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: artifact link already recorded'); END;

-- An ended run is sealed.
CREATE TRIGGER steps_after_end BEFORE INSERT ON steps
WHEN EXISTS (SELECT 1 FROM run_ends WHERE run_id = NEW.run_id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run has already ended'); END;
CREATE TRIGGER measurements_after_end BEFORE INSERT ON measurements
WHEN EXISTS (SELECT 1 FROM run_ends WHERE run_id = NEW.run_id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run has already ended'); END;
CREATE TRIGGER run_artifacts_after_end BEFORE INSERT ON run_artifacts
WHEN EXISTS (SELECT 1 FROM run_ends WHERE run_id = NEW.run_id)
BEGIN SELECT RAISE(ABORT, 'rigor store is append-only: run has already ended'); END;

CREATE VIEW run_summary AS
SELECT
    r.id AS run_id,
    r.unit_serial,
    u.family,
    u.generation,
    r.scenario_name,
    r.scenario_version,
    r.attempt,
    r.station,
    r.rig,
    r.slot,
    r.operator,
    r.started_at_us,
    strftime('%Y-%m-%dT%H:%M:%fZ', r.started_at_us / 1000000.0, 'unixepoch') AS started_at,
    e.ended_at_us,
    CASE WHEN e.run_id IS NULL THEN 'incomplete' ELSE e.outcome END AS outcome,
    e.failure_class,
    e.message
FROM runs AS r
JOIN units AS u ON u.serial = r.unit_serial
LEFT JOIN run_ends AS e ON e.run_id = r.id;

CREATE VIEW unit_footprint AS
SELECT s.*
FROM run_summary AS s
WHERE s.attempt <= coalesce(
    (SELECT min(r.attempt)
     FROM runs AS r JOIN run_ends AS e ON e.run_id = r.id
     WHERE r.unit_serial = s.unit_serial
       AND r.scenario_name = s.scenario_name
       AND e.outcome = 'pass'),
    s.attempt);

CREATE VIEW first_pass_yield AS
SELECT
    s.scenario_name,
    s.family,
    s.generation,
    count(*) AS units,
    sum(s.outcome = 'pass') AS first_pass,
    sum(s.outcome <> 'pass' AND s.failure_class IS 'infrastructure') AS first_infrastructure,
    sum(EXISTS (SELECT 1
                FROM runs AS r JOIN run_ends AS e ON e.run_id = r.id
                WHERE r.unit_serial = s.unit_serial
                  AND r.scenario_name = s.scenario_name
                  AND e.outcome = 'pass')) AS eventually_passed,
    CAST(sum(s.outcome = 'pass') AS REAL) / count(*) AS first_pass_yield
FROM run_summary AS s
WHERE s.attempt = 1 AND s.outcome <> 'incomplete'
GROUP BY s.scenario_name, s.family, s.generation;
"#;
