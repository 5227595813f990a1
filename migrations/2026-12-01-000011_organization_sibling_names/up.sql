-- Sibling units may not share a name as people read it. `name_key` is the name folded in Rust
-- (src/text.rs `comparison_key`: NFC, format characters dropped, lower-case, spaces collapsed;
-- diacritics kept, as they tell Vietnamese letters and tones apart) and written with every name; rows from before this migration are filled
-- by the service when it migrates (`db::fill_name_keys`). A plain column, not an index on an
-- SQL function, so the index survives the SQL functions being dropped and re-created.
-- "Active" is today's notion of a unit that counts; with validity dates this becomes "valid on
-- the same day" (an exclusion constraint over the validity range).
ALTER TABLE organizations ADD COLUMN name_key text;
CREATE UNIQUE INDEX organizations_sibling_name_key ON organizations (parent_id, name_key)
    NULLS NOT DISTINCT WHERE active AND name_key IS NOT NULL;
