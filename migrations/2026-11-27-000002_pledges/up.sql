-- Pledges (đăng ký thi đua), their append-only progress reports, and idempotency keys.

CREATE TABLE pledges (
    id                  uuid PRIMARY KEY,
    campaign_id         uuid NOT NULL REFERENCES campaigns (id),
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    -- Denormalized tree position of the pledging unit (rewritten when the unit moves), so a
    -- subtree list is one index range instead of a join over the tree.
    organization_path   text COLLATE "C" NOT NULL,
    -- Top-level organization: the planned Citus distribution key.
    root_organization_id uuid NOT NULL,
    year                integer NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('target', 'title')),
    field               text NOT NULL,
    title               text NOT NULL,
    description         text,
    target_value        double precision CHECK (target_value >= 0),
    target_unit         text,
    title_name          text,
    deadline            date NOT NULL,
    exemplar_id         uuid,
    exemplar_relation   text CHECK (exemplar_relation IN ('learn', 'catch_up', 'surpass')),
    status              text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'submitted', 'approved', 'assessed', 'returned', 'withdrawn')),
    result              text CHECK (result IN ('exceeded', 'achieved', 'partially_achieved', 'not_achieved')),
    assessment_note     text,
    -- Reason of the latest return or withdrawal.
    status_reason       text,
    submitted_at        timestamptz,
    approved_at         timestamptz,
    approved_by         uuid,
    assessed_at         timestamptz,
    progress_percent    double precision,
    current_value       double precision,
    last_reported_on    date,
    search_text         text GENERATED ALWAYS AS
        (search_fold(title || ' ' || coalesce(title_name, '') || ' ' || coalesce(description, ''))) STORED,
    created_by          uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    CHECK ((exemplar_id IS NULL) = (exemplar_relation IS NULL))
);
CREATE INDEX pledges_path_idx ON pledges (organization_path text_pattern_ops);
CREATE INDEX pledges_path_created_idx ON pledges (organization_path, created_at, id);
CREATE INDEX pledges_organization_idx ON pledges (organization_id, campaign_id, year);
CREATE INDEX pledges_campaign_year_idx ON pledges (campaign_id, year, status);
CREATE INDEX pledges_updated_idx ON pledges (updated_at, id);
CREATE INDEX pledges_exemplar_idx ON pledges (exemplar_id) WHERE exemplar_id IS NOT NULL;
CREATE INDEX pledges_search_idx ON pledges USING gin (search_text gin_trgm_ops);

CREATE TABLE pledge_progress (
    id               uuid PRIMARY KEY,
    pledge_id        uuid NOT NULL REFERENCES pledges (id),
    root_organization_id uuid NOT NULL,
    reported_on      date NOT NULL,
    percent          double precision CHECK (percent BETWEEN 0 AND 100),
    value            double precision,
    note             text,
    evidence_urls    text[] NOT NULL DEFAULT '{}',
    reported_by      uuid NOT NULL,
    reporter_kind    text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (percent IS NOT NULL OR value IS NOT NULL)
);
CREATE INDEX pledge_progress_pledge_idx ON pledge_progress (pledge_id, reported_on DESC, id);

-- Progress reports are append-only.
CREATE TRIGGER pledge_progress_no_update BEFORE UPDATE OR DELETE ON pledge_progress
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- Idempotency-Key records: claimed inside the transaction of the write they protect, so a
-- retry either replays the committed response or runs again after a rollback.
CREATE TABLE idempotency_keys (
    principal_id    uuid NOT NULL,
    key             text NOT NULL,
    request_digest  bytea NOT NULL,
    status          smallint,
    location        text,
    etag            text,
    body            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

