-- The annual title cycle, part 2 (docs/design.md § The annual title cycle): council sessions
-- with their secret-ballot counts, award decisions that confer titles, and revocation.

-- A session of a unit's emulation and commendation council (Hội đồng thi đua – khen thưởng).
CREATE TABLE council_sessions (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    held_on         date NOT NULL,
    members_total   integer NOT NULL CHECK (members_total BETWEEN 1 AND 1000),
    members_present integer NOT NULL CHECK (members_present BETWEEN 0 AND 1000),
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (members_present <= members_total)
);
CREATE INDEX council_sessions_organization_idx ON council_sessions (organization_id, year);

-- The counts of one secret ballot on one candidate for one title.
CREATE TABLE ballots (
    id              uuid PRIMARY KEY,
    session_id      uuid NOT NULL REFERENCES council_sessions (id),
    person_id       uuid REFERENCES persons (id),
    organization_id uuid REFERENCES organizations (id),
    subject_id      uuid GENERATED ALWAYS AS (coalesce(person_id, organization_id)) STORED,
    title_code      text NOT NULL,
    approve         integer NOT NULL CHECK (approve >= 0),
    disapprove      integer NOT NULL CHECK (disapprove >= 0),
    invalid         integer NOT NULL DEFAULT 0 CHECK (invalid >= 0),
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(person_id, organization_id) = 1)
);
CREATE UNIQUE INDEX ballots_once_key ON ballots (session_id, subject_id, title_code);

-- A decision (quyết định) of the head of an issuing unit, conferring titles.
CREATE TABLE award_decisions (
    id                     uuid PRIMARY KEY,
    issuer_organization_id uuid NOT NULL REFERENCES organizations (id),
    decision_no            text NOT NULL,
    -- The year of the titles conferred (numbers are unique per issuer and this year).
    year                   integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    decided_on             date NOT NULL,
    signer_name            text NOT NULL,
    council_session_id     uuid REFERENCES council_sessions (id),
    rule_set_id            uuid NOT NULL REFERENCES rule_sets (id),
    base_salary            bigint NOT NULL CHECK (base_salary > 0),
    reward_total           bigint NOT NULL CHECK (reward_total >= 0),
    created_by             uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer_organization_id, year, decision_no)
);
CREATE INDEX award_decisions_year_idx ON award_decisions (year, issuer_organization_id);

ALTER TABLE awards
    ADD COLUMN decision_id uuid REFERENCES award_decisions (id),
    ADD COLUMN recovery_amount bigint CHECK (recovery_amount >= 0),
    ADD COLUMN revocation_note text,
    ADD COLUMN revoked_by uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX awards_decision_idx ON awards (decision_id);
CREATE INDEX awards_issuer_idx ON awards (issuer_organization_id, year, title_code) WHERE revoked_at IS NULL;
