DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE campaigns;
DROP TABLE login_throttle;
DROP TABLE refresh_tokens;
DROP TABLE clients;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE organizations;
DROP FUNCTION search_fold(text);
-- up.sql created them (IF NOT EXISTS: on a database that had them already, this removes what
-- the migration found; reverting the first migration empties the database anyway).
DROP EXTENSION IF EXISTS pg_trgm;
DROP EXTENSION IF EXISTS unaccent;
