-- Webhooks (docs/design.md § 5.2 Webhooks; docs/api.md § Webhooks): subscriptions to the
-- change feed, and the outbox of their deliveries. Events come from `change_events` once the
-- sequencer numbered them; a worker of any instance copies them into `webhook_deliveries`
-- (one transaction per batch, with the subscription's cursor) and sends them, in `seq` order
-- per subscription, under a lease on the subscription row.

CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    -- Entity types of the change feed (`pledge`, `nomination`, ...).
    events          text[] NOT NULL CHECK (cardinality(events) >= 1),
    -- `whsec_` + base64 of 32 random bytes: the HMAC key of the signatures. Kept as is: the
    -- service must sign with it (a digest would not do); shown to the subscriber once.
    secret          text NOT NULL,
    -- The partner client that owns it; NULL: the administrators' (every administrator manages
    -- it, and it receives every event).
    owner_client_id uuid REFERENCES clients (id),
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    disabled_at     timestamptz,
    disabled_reason text,
    -- The last feed position copied into the outbox for this subscription.
    feed_cursor     bigint NOT NULL,
    -- Held by the worker delivering this subscription (one at a time across instances); a
    -- worker that dies leaves it to expire, and another one takes over.
    lease_token     uuid,
    lease_until     timestamptz,
    CHECK ((status = 'disabled') = (disabled_at IS NOT NULL))
);
CREATE INDEX webhooks_owner_idx ON webhooks (owner_client_id, id);

-- The outbox: one row per event per subscription, with the exact body that is signed and sent.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    event_type      text NOT NULL,
    payload         text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (webhook_id, seq)
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (webhook_id, seq)
    WHERE status = 'pending';
-- The retention purge: finished deliveries older than the change feed's retention.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (created_at)
    WHERE status <> 'pending';

-- Every attempt of a delivery, as `GET /webhooks/{id}/deliveries` shows it. Only the status
-- code is kept of a receiver's answer, never its body.
CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    duration_ms  integer NOT NULL,
    status_code  integer,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'refused')),
    error        text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
