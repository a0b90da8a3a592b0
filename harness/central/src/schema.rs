//! The central schema, as an ordered list of migrations; a released migration is never edited.
//!
//! # Tables (version 1)
//! As in the station store (see `rigor_store::schema`), keyed by the run's UUID instead of the
//! station-local run id, and with every run's station:
//! - `stations`: each station id (the store's UUID) and the name it first reported;
//! - `units`: one row per serial, as the first station to forward it recorded it;
//! - `runs`: one per run UUID, with `station_id`, `station_run_id` (its id in the station
//!   store) and `station_attempt` (the station's own attempt number);
//! - `run_ends`, `steps`, `measurements`, `run_artifacts`: keyed by run UUID and the row's key
//!   within the run, so forwarding the same rows again inserts nothing;
//! - `artifact_blobs`: content by SHA-256, sent once however many runs link it;
//! - `rigor_schema`: one row per applied migration.
//!
//! # Append-only
//! Every table has triggers that refuse `UPDATE`, `DELETE` and `TRUNCATE` with
//! `rigor central store is append-only: …`, whoever connects (the tables' owner included; only a
//! superuser can disable triggers).
//!
//! # Roles
//! The first migration creates two group roles (`NOLOGIN`) if the cluster lacks them:
//! - `rigor_station`: may insert into the record tables and read only the schema version and the
//!   blobs' digests (to send each blob once); it can neither update, delete nor read records;
//! - `rigor_analyst`: may read every table and view, and write nothing.
//!
//! Logins are members of one of them:
//! ```sql
//! CREATE ROLE line1 LOGIN PASSWORD '…' IN ROLE rigor_station;
//! CREATE ROLE quality LOGIN PASSWORD '…' IN ROLE rigor_analyst;
//! ```
//! Roles are per cluster, so the database's owner runs `rigor central migrate` with
//! `CREATEROLE` the first time (or an administrator creates the two roles beforehand).
//!
//! # Views
//! - `run_history`: every run of every unit, with `attempt` numbered per unit × scenario name
//!   across stations by start time (then run UUID), next to `station_attempt`, the station's own
//!   number; `outcome` is `incomplete` for a run without an end.
//! - `unit_footprint`: each unit's first factory sequence: for each unit × scenario name, the
//!   attempts up to the first that passed (all of them while none has).
//! - `overlapping_runs`: pairs of runs of the same unit whose times overlap (an open run lasts
//!   forever), usually on two stations: a serial read wrongly, or a unit in two places at once.
//!   Reported for people to look at; never merged.
//! - `first_pass_yield`: per scenario × family × generation, over the units whose first attempt
//!   (across stations) has ended.
//!
//! # Version 2: what each station says a unit is
//! `units` keeps the family and generation of the first station to forward a serial. Two
//! stations that disagree (a label printed for the wrong generation, a profile chosen wrongly)
//! must not be settled silently by who arrived first, so `unit_claims` keeps every station's
//! family and generation for every serial it recorded, and the view `unit_disagreements` lists
//! the serials claimed as more than one family × generation, with each station's claim. Runs
//! forwarded before version 2 get the claim `units` holds (what those stations said is not
//! known any more). `run_ends.received_at` says when each run's end arrived centrally (runs
//! forwarded before version 2 get the time of the migration). `first_pass_yield` counts as
//! `rigor results yield` does: each unit × scenario at its first attempt that judged the device
//! (`judged`, `first_pass`, `final_pass`, both yields over `judged`), infrastructure failures
//! beside it (`infrastructure_runs`, `unjudged`), never against the unit.
//!
//! # Version 3: multi-device sessions
//! `run_sessions`, as in the station store: a row for each run that belonged to a multi-device
//! session, with the session's id (shared by every unit's run) and the unit's role; runs of no
//! session have none. The view `session_runs` lists each session's runs with their history
//! (`run_history`'s columns), so a gateway's run and its sensors' runs are read together.

/// One step of the central schema's history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// The version after it; versions run 1, 2, 3, … without gaps.
    pub version: i32,
    /// The SQL, run in the migration's transaction.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
    },
    Migration {
        version: 2,
        sql: V2,
    },
    Migration {
        version: 3,
        sql: V3,
    },
];

/// The central schema version this code writes and reads.
pub const CENTRAL_SCHEMA_VERSION: i32 = 3;

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == CENTRAL_SCHEMA_VERSION);

/// The record tables, parents first.
pub const RECORD_TABLES: &[&str] = &[
    "stations",
    "units",
    "unit_claims",
    "runs",
    "run_ends",
    "run_sessions",
    "steps",
    "measurements",
    "artifact_blobs",
    "run_artifacts",
];

const V1: &str = r#"
CREATE TABLE stations (
    station_id    uuid        NOT NULL PRIMARY KEY,
    name          text        NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE units (
    serial        text   NOT NULL PRIMARY KEY CHECK (length(serial) > 0),
    family        text   NOT NULL,
    generation    text   NOT NULL,
    first_seen_us bigint NOT NULL
);

CREATE TABLE runs (
    run_uuid           uuid   NOT NULL PRIMARY KEY,
    station_id         uuid   NOT NULL REFERENCES stations (station_id),
    station_run_id     bigint NOT NULL,
    unit_serial        text   NOT NULL REFERENCES units (serial),
    scenario_name      text   NOT NULL CHECK (length(scenario_name) > 0),
    scenario_version   text   NOT NULL,
    scenario_sha256    text   NOT NULL CHECK (scenario_sha256 ~ '^[0-9a-f]{64}$'),
    station_attempt    bigint NOT NULL CHECK (station_attempt >= 1),
    station            text   NOT NULL,
    rig                text   NOT NULL,
    slot               text   NOT NULL,
    fixture_id         text,
    fixture_insertions bigint CHECK (fixture_insertions >= 0),
    operator           text   NOT NULL,
    firmware_sha256    text   CHECK (firmware_sha256 ~ '^[0-9a-f]{64}$'),
    firmware_version   text,
    limits_sha256      text   NOT NULL CHECK (limits_sha256 ~ '^[0-9a-f]{64}$'),
    started_at_us      bigint NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, station_run_id)
);
CREATE INDEX runs_by_unit ON runs (unit_serial, scenario_name, started_at_us);

CREATE TABLE run_ends (
    run_uuid      uuid   NOT NULL PRIMARY KEY REFERENCES runs (run_uuid),
    ended_at_us   bigint NOT NULL,
    outcome       text   NOT NULL CHECK (outcome IN ('pass', 'fail', 'error', 'aborted')),
    failure_class text   CHECK (failure_class IN ('infrastructure', 'device', 'scenario')),
    message       text
);

CREATE TABLE steps (
    run_uuid      uuid   NOT NULL REFERENCES runs (run_uuid),
    step_index    bigint NOT NULL CHECK (step_index >= 0),
    step_id       text   NOT NULL,
    kind          text   NOT NULL,
    attempt       bigint NOT NULL CHECK (attempt >= 1),
    started_at_us bigint NOT NULL,
    ended_at_us   bigint NOT NULL,
    outcome       text   NOT NULL CHECK (outcome IN ('pass', 'fail', 'error', 'skipped')),
    message       text,
    PRIMARY KEY (run_uuid, step_index)
);

CREATE TABLE measurements (
    run_uuid       uuid    NOT NULL REFERENCES runs (run_uuid),
    seq            bigint  NOT NULL CHECK (seq >= 0),
    step_index     bigint  NOT NULL CHECK (step_index >= 0),
    name           text    NOT NULL CHECK (length(name) > 0),
    value          double precision,
    text_value     text,
    unit           text,
    comparator     text    NOT NULL,
    low            double precision,
    low_inclusive  boolean NOT NULL,
    high           double precision,
    high_inclusive boolean NOT NULL,
    marginal_low   double precision,
    marginal_high  double precision,
    marginal       boolean NOT NULL,
    outcome        text    NOT NULL CHECK (outcome IN ('pass', 'fail')),
    measured_at_us bigint  NOT NULL,
    PRIMARY KEY (run_uuid, seq)
);

CREATE TABLE artifact_blobs (
    sha256  text   NOT NULL PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size    bigint NOT NULL CHECK (size = octet_length(content)),
    content bytea  NOT NULL
);

CREATE TABLE run_artifacts (
    run_uuid   uuid   NOT NULL REFERENCES runs (run_uuid),
    link_id    bigint NOT NULL,
    step_index bigint CHECK (step_index >= 0),
    name       text   NOT NULL CHECK (length(name) > 0),
    media_type text   NOT NULL,
    sha256     text   NOT NULL REFERENCES artifact_blobs (sha256),
    PRIMARY KEY (run_uuid, link_id)
);
CREATE INDEX run_artifacts_by_blob ON run_artifacts (sha256);

CREATE FUNCTION rigor_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rigor central store is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stations', 'units', 'runs', 'run_ends', 'steps', 'measurements',
                             'artifact_blobs', 'run_artifacts', 'rigor_schema'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION rigor_refuse_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION rigor_refuse_change()', t || '_no_truncate', t);
    END LOOP;
END
$$;

CREATE VIEW run_history AS
SELECT
    r.run_uuid,
    r.unit_serial,
    u.family,
    u.generation,
    r.scenario_name,
    r.scenario_version,
    row_number() OVER (PARTITION BY r.unit_serial, r.scenario_name
                       ORDER BY r.started_at_us, r.run_uuid) AS attempt,
    r.station_attempt,
    r.station_id,
    r.station,
    r.rig,
    r.slot,
    r.operator,
    r.firmware_version,
    r.started_at_us,
    to_timestamp(r.started_at_us / 1e6) AS started_at,
    e.ended_at_us,
    coalesce(e.outcome, 'incomplete') AS outcome,
    e.failure_class,
    e.message
FROM runs AS r
JOIN units AS u ON u.serial = r.unit_serial
LEFT JOIN run_ends AS e ON e.run_uuid = r.run_uuid;

CREATE VIEW unit_footprint AS
SELECT h.*
FROM run_history AS h
WHERE h.attempt <= coalesce(
    (SELECT min(p.attempt) FROM run_history AS p
     WHERE p.unit_serial = h.unit_serial AND p.scenario_name = h.scenario_name
       AND p.outcome = 'pass'),
    h.attempt);

CREATE VIEW overlapping_runs AS
SELECT
    a.unit_serial,
    a.run_uuid AS run_a, a.station_id AS station_a, a.scenario_name AS scenario_a,
    a.started_at_us AS started_a_us, ea.ended_at_us AS ended_a_us,
    b.run_uuid AS run_b, b.station_id AS station_b, b.scenario_name AS scenario_b,
    b.started_at_us AS started_b_us, eb.ended_at_us AS ended_b_us
FROM runs AS a
JOIN runs AS b ON b.unit_serial = a.unit_serial AND a.run_uuid < b.run_uuid
LEFT JOIN run_ends AS ea ON ea.run_uuid = a.run_uuid
LEFT JOIN run_ends AS eb ON eb.run_uuid = b.run_uuid
WHERE a.started_at_us < coalesce(eb.ended_at_us, 9223372036854775807)
  AND b.started_at_us < coalesce(ea.ended_at_us, 9223372036854775807);

CREATE VIEW first_pass_yield AS
SELECT
    h.scenario_name,
    h.family,
    h.generation,
    count(*) AS units,
    count(*) FILTER (WHERE h.outcome = 'pass') AS first_pass,
    count(*) FILTER (WHERE h.outcome <> 'pass' AND h.failure_class = 'infrastructure')
        AS first_infrastructure,
    count(*) FILTER (WHERE EXISTS (SELECT 1 FROM run_history AS p
                                   WHERE p.unit_serial = h.unit_serial
                                     AND p.scenario_name = h.scenario_name
                                     AND p.outcome = 'pass')) AS eventually_passed,
    (count(*) FILTER (WHERE h.outcome = 'pass'))::double precision / count(*) AS first_pass_yield
FROM run_history AS h
WHERE h.attempt = 1 AND h.outcome <> 'incomplete'
GROUP BY h.scenario_name, h.family, h.generation;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rigor_station') THEN
        CREATE ROLE rigor_station NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rigor_analyst') THEN
        CREATE ROLE rigor_analyst NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO rigor_station, rigor_analyst;
GRANT INSERT ON stations, units, runs, run_ends, steps, measurements, artifact_blobs,
    run_artifacts TO rigor_station;
GRANT SELECT (version) ON rigor_schema TO rigor_station;
GRANT SELECT (sha256) ON artifact_blobs TO rigor_station;
GRANT SELECT ON stations, units, runs, run_ends, steps, measurements, artifact_blobs,
    run_artifacts, rigor_schema, run_history, unit_footprint, overlapping_runs, first_pass_yield
    TO rigor_analyst;
"#;

const V2: &str = r#"
CREATE TABLE unit_claims (
    serial        text   NOT NULL REFERENCES units (serial),
    station_id    uuid   NOT NULL REFERENCES stations (station_id),
    family        text   NOT NULL,
    generation    text   NOT NULL,
    first_seen_us bigint NOT NULL,
    PRIMARY KEY (serial, station_id, family, generation)
);

INSERT INTO unit_claims (serial, station_id, family, generation, first_seen_us)
SELECT DISTINCT r.unit_serial, r.station_id, u.family, u.generation, u.first_seen_us
FROM runs AS r JOIN units AS u ON u.serial = r.unit_serial;

CREATE TRIGGER unit_claims_append_only BEFORE UPDATE OR DELETE ON unit_claims
    FOR EACH ROW EXECUTE FUNCTION rigor_refuse_change();
CREATE TRIGGER unit_claims_no_truncate BEFORE TRUNCATE ON unit_claims
    FOR EACH STATEMENT EXECUTE FUNCTION rigor_refuse_change();

CREATE VIEW unit_disagreements AS
SELECT c.serial, c.station_id, s.name AS station, c.family, c.generation, c.first_seen_us,
    (u.family, u.generation) = (c.family, c.generation) AS as_units_holds
FROM unit_claims AS c
JOIN stations AS s ON s.station_id = c.station_id
JOIN units AS u ON u.serial = c.serial
WHERE c.serial IN (SELECT serial FROM unit_claims GROUP BY serial
                   HAVING count(DISTINCT (family, generation)) > 1);

-- First-pass yield as `rigor results yield` counts it: a unit × scenario is judged at its first
-- attempt that judged the device (a pass, or a failure classed `device`); infrastructure
-- failures are counted beside it, never against the unit.
DROP VIEW first_pass_yield;
CREATE VIEW first_pass_yield AS
WITH per_unit AS (
    SELECT h.scenario_name, h.family, h.generation, h.unit_serial,
        count(*) FILTER (WHERE h.failure_class = 'infrastructure') AS infrastructure_runs,
        (array_agg(h.outcome ORDER BY h.attempt)
            FILTER (WHERE h.outcome = 'pass' OR h.failure_class = 'device'))[1] AS first_judged,
        bool_or(h.outcome = 'pass') AS passed
    FROM run_history AS h
    WHERE h.outcome <> 'incomplete'
    GROUP BY h.scenario_name, h.family, h.generation, h.unit_serial
)
SELECT scenario_name, family, generation,
    count(*) AS units,
    count(first_judged) AS judged,
    count(*) FILTER (WHERE first_judged = 'pass') AS first_pass,
    count(*) FILTER (WHERE passed) AS final_pass,
    (count(*) FILTER (WHERE first_judged = 'pass'))::double precision
        / nullif(count(first_judged), 0) AS first_pass_yield,
    (count(*) FILTER (WHERE passed))::double precision
        / nullif(count(first_judged), 0) AS final_yield,
    sum(infrastructure_runs) AS infrastructure_runs,
    count(*) - count(first_judged) AS unjudged
FROM per_unit
GROUP BY scenario_name, family, generation;

-- When each run's end arrived, so forwarding lag can be read off the central store itself.
ALTER TABLE run_ends ADD COLUMN received_at timestamptz NOT NULL DEFAULT clock_timestamp();

GRANT INSERT ON unit_claims TO rigor_station;
GRANT SELECT ON unit_claims, unit_disagreements, first_pass_yield TO rigor_analyst;
"#;

const V3: &str = r#"
CREATE TABLE run_sessions (
    run_uuid   uuid NOT NULL PRIMARY KEY REFERENCES runs (run_uuid),
    session_id text NOT NULL CHECK (session_id <> ''),
    role       text NOT NULL CHECK (role <> '')
);
CREATE INDEX run_sessions_by_session ON run_sessions (session_id);
CREATE TRIGGER run_sessions_append_only BEFORE UPDATE OR DELETE ON run_sessions
    FOR EACH ROW EXECUTE FUNCTION rigor_refuse_change();
CREATE TRIGGER run_sessions_no_truncate BEFORE TRUNCATE ON run_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION rigor_refuse_change();

CREATE VIEW session_runs AS
SELECT ss.session_id, ss.role, h.*
FROM run_sessions AS ss
JOIN run_history AS h ON h.run_uuid = ss.run_uuid;

GRANT INSERT ON run_sessions TO rigor_station;
GRANT SELECT ON run_sessions, session_runs TO rigor_analyst;
"#;
