DROP TABLE unit_tallies;
ALTER TABLE tally_deltas DROP COLUMN organization_id;
