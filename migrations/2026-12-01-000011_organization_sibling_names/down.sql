DROP INDEX organizations_sibling_name_key;
ALTER TABLE organizations DROP COLUMN name_key;
