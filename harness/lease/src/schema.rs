//! The lease tables. The database's clock is the only one that decides expiry, so hosts with
//! skewed clocks agree; a holder only ever stops earlier by its own.

/// Creates the tables when missing; run under a transaction-scoped advisory lock so that many
/// first users at once create them once.
pub(crate) const SCHEMA: &str = "
CREATE SEQUENCE IF NOT EXISTS rigor_lease_token;

-- One row per slot ever leased: who holds it now, under which fencing token, until when.
CREATE TABLE IF NOT EXISTS rigor_lease_slots (
    rig        text        NOT NULL,
    slot       text        NOT NULL,
    token      bigint,
    holder     text,
    host       text,
    pid        integer,
    job        text,
    priority   integer,
    granted_at timestamptz,
    expires_at timestamptz,
    PRIMARY KEY (rig, slot),
    CHECK ((token IS NULL) = (expires_at IS NULL))
);

-- Who waits for a slot, first come first served within a priority; a waiter that stops
-- refreshing its row (killed while waiting) drops out of the queue.
CREATE TABLE IF NOT EXISTS rigor_lease_waiters (
    ticket      bigserial   PRIMARY KEY,
    rig         text        NOT NULL,
    slot        text        NOT NULL,
    priority    integer     NOT NULL,
    holder      text        NOT NULL,
    alive_until timestamptz NOT NULL
);

-- Every grant and its end, append-only: the lease history a technician reads.
CREATE TABLE IF NOT EXISTS rigor_lease_history (
    seq    bigserial   PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    rig    text        NOT NULL,
    slot   text        NOT NULL,
    token  bigint      NOT NULL,
    event  text        NOT NULL CHECK (event IN ('granted', 'released', 'expired', 'broken')),
    holder text        NOT NULL,
    reason text
);

-- Waiters sleep until told (LISTEN rigor_lease, the rig's name as payload): whatever frees a
-- slot (a release, a break, a holder giving up) or takes a waiter out of a queue notifies, so no
-- path can forget to. Created only when missing: replacing a trigger locks its table.
CREATE OR REPLACE FUNCTION rigor_lease_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rigor_lease', OLD.rig);
    RETURN NULL;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'rigor_lease_slot_freed') THEN
        CREATE TRIGGER rigor_lease_slot_freed AFTER UPDATE OF token ON rigor_lease_slots
            FOR EACH ROW WHEN (OLD.token IS NOT NULL AND NEW.token IS NULL)
            EXECUTE FUNCTION rigor_lease_notify();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'rigor_lease_waiter_left') THEN
        CREATE TRIGGER rigor_lease_waiter_left AFTER DELETE ON rigor_lease_waiters
            FOR EACH ROW EXECUTE FUNCTION rigor_lease_notify();
    END IF;
END $$;
";

/// The advisory lock key of the schema's creation.
pub(crate) const SCHEMA_LOCK: i64 = 0x7269_676F_725F_6C65; // "rigor_le"
