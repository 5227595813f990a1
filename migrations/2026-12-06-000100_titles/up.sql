-- The annual title cycle, part 1 (docs/design.md § The annual title cycle): rule sets and base
-- salaries as data, persons, year records, title registrations, and the awards that "holds a
-- title in a year" reads. The shipped rule sets are data files (data/rule-sets/), loaded by the
-- migrator after the migrations, never code.

-- A version of the rules of one legal text. Rows never change once written: a correction is a
-- new version of the same code that supersedes the older one (`current` false), and only
-- current versions may overlap in no day.
CREATE TABLE rule_sets (
    id             uuid PRIMARY KEY,
    code           text NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    name           text NOT NULL,
    legal_basis    text[] NOT NULL,
    effective_from date NOT NULL,
    effective_to   date,
    -- The titles with their subject, conferring kinds, conditions, vote, quota and reward
    -- multiple, as validated by the service (src/titles/rules.rs).
    titles         jsonb NOT NULL,
    notes          text,
    current        boolean NOT NULL DEFAULT true,
    supersedes     uuid REFERENCES rule_sets (id),
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (code, version),
    CHECK (effective_to IS NULL OR effective_to >= effective_from),
    CONSTRAINT rule_sets_no_overlap
        EXCLUDE USING gist (daterange(effective_from, effective_to, '[]') WITH &&) WHERE (current)
);

-- The base salary (lương cơ sở) from a day on; rewards are multiples of it.
CREATE TABLE base_salaries (
    effective_from date PRIMARY KEY,
    amount         bigint NOT NULL CHECK (amount > 0),
    legal_basis    text NOT NULL,
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Persons: minimal personal data, visible within the subtree of their unit only.
CREATE TABLE persons (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    full_name       text NOT NULL,
    position        text,
    gender          text CHECK (gender IN ('female', 'male')),
    search_text     text GENERATED ALWAYS AS (search_fold(full_name || ' ' || coalesce(position, ''))) STORED,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1
);
CREATE INDEX persons_organization_idx ON persons (organization_id, id);
CREATE INDEX persons_search_idx ON persons USING gin (search_text gin_trgm_ops);

-- A subject is a person or an organization (a collective): exactly one of the two columns,
-- each a real foreign key; `subject_id` is whichever is set.

-- The year record of a subject: completion rating, initiative, discipline.
CREATE TABLE year_records (
    person_id         uuid REFERENCES persons (id),
    organization_id   uuid REFERENCES organizations (id),
    subject_id        uuid GENERATED ALWAYS AS (coalesce(person_id, organization_id)) STORED,
    year              integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    completion_rating text CHECK (completion_rating IN
        ('hoan_thanh_xuat_sac', 'hoan_thanh_tot', 'hoan_thanh', 'khong_hoan_thanh')),
    initiative        text,
    discipline        text NOT NULL DEFAULT 'none' CHECK (discipline IN
        ('none', 'khien_trach', 'canh_cao', 'cach_chuc', 'buoc_thoi_viec')),
    updated_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1,
    PRIMARY KEY (subject_id, year),
    CHECK (num_nonnulls(person_id, organization_id) = 1)
);

-- A subject registers a title for a year early in the year; only registered subjects are
-- considered at its end.
CREATE TABLE title_registrations (
    id              uuid PRIMARY KEY,
    person_id       uuid REFERENCES persons (id),
    organization_id uuid REFERENCES organizations (id),
    subject_id      uuid GENERATED ALWAYS AS (coalesce(person_id, organization_id)) STORED,
    title_code      text NOT NULL,
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(person_id, organization_id) = 1)
);
CREATE UNIQUE INDEX title_registrations_once_key ON title_registrations (subject_id, title_code, year);
CREATE INDEX title_registrations_title_idx ON title_registrations (title_code, year, id);

-- A title conferred on a subject for a year. Awards of earlier years are recorded from the
-- paper decisions that conferred them (`decision_no`, `decided_on`, issuer); a revoked award
-- no longer counts, towards consecutive years included.
CREATE TABLE awards (
    id                     uuid PRIMARY KEY,
    person_id              uuid REFERENCES persons (id),
    organization_id        uuid REFERENCES organizations (id),
    subject_id             uuid GENERATED ALWAYS AS (coalesce(person_id, organization_id)) STORED,
    title_code             text NOT NULL,
    year                   integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    rule_set_id            uuid REFERENCES rule_sets (id),
    issuer_organization_id uuid REFERENCES organizations (id),
    decision_no            text,
    decided_on             date,
    reward_amount          bigint CHECK (reward_amount >= 0),
    revoked_at             timestamptz,
    revocation_reason      text CHECK (revocation_reason IN
        ('fraud', 'false_documents', 'unlawful_appraisal', 'criteria_not_met')),
    created_by             uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(person_id, organization_id) = 1),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
-- One achievement is rewarded once: a subject holds a title at most once a year.
CREATE UNIQUE INDEX awards_once_key ON awards (subject_id, title_code, year) WHERE revoked_at IS NULL;
CREATE INDEX awards_subject_idx ON awards (subject_id, year);
