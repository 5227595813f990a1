-- Nominations of exemplars (điển hình tiên tiến), their reviews, and the link from pledges to
-- the exemplar they follow.

CREATE TABLE nominations (
    id                          uuid PRIMARY KEY,
    campaign_id                 uuid NOT NULL REFERENCES campaigns (id),
    nominating_organization_id  uuid NOT NULL REFERENCES organizations (id),
    -- Denormalized tree position of the nominating unit (rewritten when the unit moves), so a
    -- subtree list is one index range instead of a join over the tree.
    organization_path           text COLLATE "C" NOT NULL,
    -- Top-level organization: the planned Citus distribution key.
    root_organization_id        uuid NOT NULL,
    year                        integer NOT NULL,
    nominee_type                text NOT NULL CHECK (nominee_type IN ('individual', 'collective')),
    nominee_name                text NOT NULL,
    -- The name as people mean it: case, Vietnamese diacritics and spacing ignored. Two
    -- nominations of one unit, campaign and year with the same key name the same nominee.
    nominee_key                 text GENERATED ALWAYS AS
        (search_fold(regexp_replace(btrim(nominee_name), '\s+', ' ', 'g'))) STORED,
    nominee_organization_id     uuid REFERENCES organizations (id),
    nominee_position            text,
    member_count                integer CHECK (member_count >= 1),
    field                       text NOT NULL,
    achievements                text,
    evidence_urls               text[] NOT NULL DEFAULT '{}',
    status                      text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'submitted', 'under_review', 'recognized', 'commended',
                          'rejected', 'withdrawn')),
    -- Reason of the rejection or withdrawal.
    status_reason               text,
    commendation_form           text
        CHECK (commendation_form IN ('giay_khen', 'bang_khen', 'co_thi_dua', 'other')),
    issuer_organization_id      uuid REFERENCES organizations (id),
    decision_no                 text,
    decided_on                  date,
    search_text                 text GENERATED ALWAYS AS
        (search_fold(nominee_name || ' ' || coalesce(nominee_position, '') || ' ' || coalesce(achievements, ''))) STORED,
    submitted_at                timestamptz,
    review_started_at           timestamptz,
    recognized_at               timestamptz,
    commended_at                timestamptz,
    created_by                  uuid NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    version                     integer NOT NULL DEFAULT 1,
    CHECK ((status = 'commended') = (commendation_form IS NOT NULL)),
    CHECK ((commendation_form IS NULL) = (issuer_organization_id IS NULL)
       AND (commendation_form IS NULL) = (decision_no IS NULL)
       AND (commendation_form IS NULL) = (decided_on IS NULL))
);
CREATE INDEX nominations_path_idx ON nominations (organization_path text_pattern_ops);
CREATE INDEX nominations_path_created_idx ON nominations (organization_path, created_at, id);
CREATE INDEX nominations_campaign_year_idx ON nominations (campaign_id, year, status);
CREATE INDEX nominations_updated_idx ON nominations (updated_at, id);
CREATE INDEX nominations_exemplars_idx ON nominations (recognized_at DESC, id DESC)
    WHERE status IN ('recognized', 'commended');
CREATE INDEX nominations_search_idx ON nominations USING gin (search_text gin_trgm_ops);
-- One live nomination per nominee, unit, campaign and year; a rejected or withdrawn one no
-- longer blocks. The service checks first (for a precise message); these make it exact under
-- concurrency.
CREATE UNIQUE INDEX nominations_nominee_key_unique
    ON nominations (nominating_organization_id, campaign_id, year, nominee_key)
    WHERE status NOT IN ('rejected', 'withdrawn');
-- A collective is identified by its organization too (individuals share their workplace).
CREATE UNIQUE INDEX nominations_nominee_organization_unique
    ON nominations (nominating_organization_id, campaign_id, year, nominee_organization_id)
    WHERE status NOT IN ('rejected', 'withdrawn') AND nominee_type = 'collective'
      AND nominee_organization_id IS NOT NULL;

CREATE TABLE nomination_reviews (
    id              uuid PRIMARY KEY,
    nomination_id   uuid NOT NULL REFERENCES nominations (id),
    reviewer_id     uuid NOT NULL,
    decision        text NOT NULL CHECK (decision IN ('endorse', 'oppose', 'abstain')),
    comment         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT nomination_reviews_one_per_reviewer UNIQUE (nomination_id, reviewer_id)
);

-- Reviews are votes on the record: never edited.
CREATE TRIGGER nomination_reviews_no_update BEFORE UPDATE OR DELETE ON nomination_reviews
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

ALTER TABLE pledges ADD CONSTRAINT pledges_exemplar_fk FOREIGN KEY (exemplar_id) REFERENCES nominations (id);
