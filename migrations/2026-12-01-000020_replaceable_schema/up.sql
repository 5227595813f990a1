-- From now on every SQL function and trigger lives in the replaceable schema `r`
-- (src/db/replaceable.sql), which the migrator recreates after the migrations, in the same
-- transaction, whenever that file changes: the definitions that migrations 000001-000005
-- created in `public` go. `search_fold()` stays: generated columns and indexes depend on it.
-- The tables they worked on stay as they are, pending deltas included: r.fold_tallies()
-- folds them.
DROP TRIGGER audit_events_no_update ON audit_events;
DROP TRIGGER audit_events_no_truncate ON audit_events;
DROP TRIGGER pledge_progress_no_update ON pledge_progress;
DROP TRIGGER nomination_reviews_no_update ON nomination_reviews;
DROP FUNCTION audit_events_append_only();

DROP TRIGGER pledges_tally_insert ON pledges;
DROP TRIGGER pledges_tally_update ON pledges;
DROP TRIGGER pledges_tally_delete ON pledges;
DROP TRIGGER nominations_tally_insert ON nominations;
DROP TRIGGER nominations_tally_update ON nominations;
DROP TRIGGER nominations_tally_delete ON nominations;
DROP TRIGGER organizations_tally_insert ON organizations;
DROP TRIGGER organizations_tally_update ON organizations;
DROP TRIGGER organizations_tally_delete ON organizations;
DROP FUNCTION tally_pledge();
DROP FUNCTION tally_nomination();
DROP FUNCTION tally_organization();

DROP FUNCTION overview_of(uuid, text[], uuid, integer, date, text);
DROP FUNCTION child_tally(uuid, uuid, integer, date);
DROP FUNCTION subtree_tally(text, text, uuid, integer, date);
DROP FUNCTION subtree_tally_rows(text, text, uuid, integer, date);
DROP FUNCTION tally_version();
DROP FUNCTION fold_tallies();
DROP FUNCTION tally_slices(text, uuid, integer);
