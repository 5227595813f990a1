DROP TABLE organization_placements;
DROP TABLE organization_links;
DROP TABLE restructurings;
DROP INDEX organizations_code_idx;
ALTER TABLE organizations DROP CONSTRAINT organizations_code_valid_key;
CREATE UNIQUE INDEX organizations_code_key ON organizations (code) WHERE code IS NOT NULL;
ALTER TABLE organizations
    DROP CONSTRAINT organizations_validity_check,
    DROP COLUMN placed_on,
    DROP COLUMN valid_to,
    DROP COLUMN valid_from;
DROP EXTENSION btree_gist;
