CREATE INDEX awards_subtree_idx ON awards (organization_path text_pattern_ops, year)
    INCLUDE (title_code, person_id, revoked_at, reward_amount, recovery_amount);
DROP TABLE award_tallies;
