-- Access-token revocation (src/auth/revocation.rs): access tokens of a principal (user or
-- partner client) or of a session (refresh-token family) issued before `not_before` are
-- refused. Every instance keeps the recent rows in memory, fed by NOTIFY and a poll of the rows
-- changed lately (`changed_at`); rows older than any token are purged.
CREATE TABLE token_revocations (
    subject_id uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('principal', 'session')),
    not_before timestamptz NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX token_revocations_changed_idx ON token_revocations (changed_at);
