-- The change feed (GET /changes, docs/design.md § The change feed): an outbox written by row
-- triggers (src/db/replaceable.sql) inside every writing transaction, and a sequencer that
-- numbers committed rows in commit order.

-- One row per create, update, transition or delete of a fed entity. Writers only insert
-- (`id` from a sequence: no shared row); `seq` stays NULL until the sequencer, one at a time
-- across instances, numbers the rows it sees committed.
CREATE TABLE change_events (
    id              bigserial PRIMARY KEY,
    -- The writing transaction: the sequencer numbers one transaction's rows together, in the
    -- order they were written.
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq             bigint,
    entity_type     text NOT NULL,
    -- Text: year records and base salaries have no uuid (subject and year; a day).
    entity_id       text NOT NULL,
    action          text NOT NULL CHECK (action IN ('created', 'updated', 'transitioned', 'moved', 'deleted')),
    version         integer,
    organization_id uuid,
    -- Where the row is now (NULL: reference data every caller may read) and, for a move, where
    -- it was: a caller who saw it there and does not see it here gets a tombstone.
    path            text,
    old_path        text,
    -- Restructurings: the paths they touched (a caller who may read a restructuring sees one).
    touched_paths   text[],
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX change_events_seq_key ON change_events (seq);
CREATE INDEX change_events_pending_idx ON change_events (xid, id) WHERE seq IS NULL;
CREATE INDEX change_events_at_idx ON change_events (at);

-- The sequencer's and the purge's bookkeeping, written only by them (never by a writer):
-- the last number given, and the highest number purged (a cursor below it may have missed
-- events: 410 resync_required).
CREATE TABLE change_feed_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq       bigint NOT NULL DEFAULT 0,
    purged_through bigint NOT NULL DEFAULT 0
);
INSERT INTO change_feed_state DEFAULT VALUES;
