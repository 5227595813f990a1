-- Restructuring with lineage (docs/design.md § Restructuring): units have a validity period and
-- predecessors/successors; a restructuring changes many units at one effective date.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- `valid_from` NULL: valid since before anything the service records. `valid_to` is the last
-- day of validity, inclusive (NULL while current). `placed_on`: the first day of the unit's
-- current place in the tree (NULL: since it exists); its earlier places are in
-- organization_placements, so "the tree as it stood on a day" can be answered.
ALTER TABLE organizations
    ADD COLUMN valid_from date,
    ADD COLUMN valid_to date,
    ADD COLUMN placed_on date,
    ADD CONSTRAINT organizations_validity_check CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from);

-- A code identifies a unit together with its validity: codes are reused (old 29137 was Xã
-- Phước Ngãi, new 29137 is Xã Tân Xuân). Unique among units valid on the same day.
DROP INDEX organizations_code_key;
ALTER TABLE organizations ADD CONSTRAINT organizations_code_valid_key
    EXCLUDE USING gist (code WITH =, daterange(valid_from, valid_to, '[]') WITH &&)
    WHERE (code IS NOT NULL);
CREATE INDEX organizations_code_idx ON organizations (code) WHERE code IS NOT NULL;

-- One atomic, audited, effective-dated change of many units, as requested and as applied.
CREATE TABLE restructurings (
    id           uuid PRIMARY KEY,
    effective_on date NOT NULL,
    legal_basis  text NOT NULL,
    steps        jsonb NOT NULL,
    preview      jsonb NOT NULL,
    -- Materialized paths of every unit the restructuring touched (before and after): a
    -- manager reads the restructurings touching their subtree.
    touched_paths text[] COLLATE "C" NOT NULL,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX restructurings_created_idx ON restructurings (created_at DESC, id DESC);

-- Lineage: `predecessor` ended (or continued) into `successor` on `effective_on`.
CREATE TABLE organization_links (
    predecessor_id   uuid NOT NULL REFERENCES organizations (id),
    successor_id     uuid NOT NULL REFERENCES organizations (id),
    restructuring_id uuid NOT NULL REFERENCES restructurings (id),
    effective_on     date NOT NULL,
    change           text NOT NULL CHECK (change IN ('merge', 'split', 'rename', 'transfer')),
    share            text NOT NULL CHECK (share IN ('full', 'partial')),
    PRIMARY KEY (predecessor_id, successor_id, restructuring_id),
    CHECK (predecessor_id <> successor_id)
);
CREATE INDEX organization_links_successor_idx ON organization_links (successor_id);

-- Earlier places of a unit in the tree: under `parent_id` at `path` from `placed_on` (NULL:
-- since it exists) to `ended_on` inclusive. Written when a restructuring re-parents a unit
-- (with its whole subtree); a correction (`POST /organizations/{id}/move`) rewrites the
-- present and writes nothing here.
CREATE TABLE organization_placements (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    parent_id       uuid REFERENCES organizations (id),
    path            text COLLATE "C" NOT NULL,
    depth           integer NOT NULL,
    placed_on       date,
    ended_on        date NOT NULL,
    restructuring_id uuid NOT NULL REFERENCES restructurings (id),
    PRIMARY KEY (organization_id, ended_on)
);
CREATE INDEX organization_placements_parent_idx ON organization_placements (parent_id);
CREATE INDEX organization_placements_path_idx ON organization_placements (path text_pattern_ops);
