-- The facet deltas still queued are plain deltas once their facet values are gone; the pairs
-- the up migration queued for the rows that existed then add up to nothing without them.
DROP INDEX pledges_titles_idx;
DROP TABLE facet_deadline_tallies;
DROP TABLE facet_tallies;
ALTER TABLE tally_deltas
    DROP COLUMN title_name,
    DROP COLUMN month,
    DROP COLUMN holder_kind,
    DROP COLUMN field;
