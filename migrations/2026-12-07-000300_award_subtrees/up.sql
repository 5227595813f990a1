-- /stats/awards reads the awards of a subtree as one range of their paths, in every year or in
-- one (awards::repo::award_stats): the index of migration 000350 leads with the year, so over
-- every year it could not serve the range, and the `LIKE ANY` over the roots it replaces was no
-- index condition at all (a commune's figures read every award of the country). The columns
-- the figures need are included: an index-only scan.
CREATE INDEX awards_subtree_idx ON awards (organization_path text_pattern_ops, year)
    INCLUDE (title_code, person_id, revoked_at, reward_amount, recovery_amount);
