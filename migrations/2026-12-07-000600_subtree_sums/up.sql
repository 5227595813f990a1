-- Per-child answers (/stats/pledges and /stats/nominations by child, the leaderboard) read each
-- child's whole tally range: every kind, status and result of both entities, about 24 rows a
-- child, 4 000 rows for a province of 168 children, whose decoding and grouping was the
-- request's cost (41 ms at a province, 1M pledges). What they show of a child is a handful of
-- sums: its pledges, the registered, assessed and achieved among them, the open ones past
-- their deadline; its nominations and the exemplars among them. So each subtree's sums are now
-- kept as one row an entity, in the four campaign and year slices of the tallies, folded from
-- the same queue of deltas.
--
-- `overdue` holds the open pledges whose deadline fell behind the fold's horizon (the
-- '-infinity' rows of deadline_tallies, to which the fold adds the deadlines passed each day);
-- a reader adds the few dated rows between the horizon and its day.
CREATE TABLE subtree_sums (
    ancestor_path   text COLLATE "C" NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    entity          text COLLATE "C" NOT NULL,
    total           bigint NOT NULL,
    registered      bigint NOT NULL,
    assessed        bigint NOT NULL,
    achieved        bigint NOT NULL,
    exemplars       bigint NOT NULL,
    overdue         bigint NOT NULL,
    PRIMARY KEY (ancestor_path, campaign_id, year, entity)
        INCLUDE (total, registered, assessed, achieved, exemplars, overdue)
);
-- Keys nobody holds any more, deleted after each fold (as for the other tallies): every other
-- column counts some of `total`'s rows.
CREATE INDEX subtree_sums_zero_idx ON subtree_sums (ancestor_path) WHERE total = 0;

-- The backfill sums the tallies themselves, under the fold's lock: a delta still queued is in
-- neither, and the next fold adds it to both. The replaceable schema (r.pledge_is_registered
-- and the other predicates) is absent while migrations run: the statuses are spelled out.
SELECT pg_advisory_xact_lock(7246150);
INSERT INTO subtree_sums (ancestor_path, campaign_id, year, entity, total, registered, assessed,
                          achieved, exemplars, overdue)
SELECT ancestor_path, campaign_id, year, entity, sum(total), sum(registered), sum(assessed),
       sum(achieved), sum(exemplars), sum(overdue)
FROM (SELECT t.ancestor_path, t.campaign_id, t.year, t.entity, t.count AS total,
             CASE WHEN t.entity = 'p' AND t.status IN ('submitted', 'approved', 'assessed')
                  THEN t.count ELSE 0 END AS registered,
             CASE WHEN t.entity = 'p' AND t.status = 'assessed' THEN t.count ELSE 0 END AS assessed,
             CASE WHEN t.entity = 'p' AND t.result IN ('achieved', 'exceeded')
                  THEN t.count ELSE 0 END AS achieved,
             CASE WHEN t.entity = 'n' AND t.status IN ('recognized', 'commended')
                  THEN t.count ELSE 0 END AS exemplars,
             0 AS overdue
      FROM tallies AS t
      WHERE t.entity IN ('p', 'n')
      UNION ALL
      SELECT d.ancestor_path, d.campaign_id, d.year, 'p', 0, 0, 0, 0, 0, d.count
      FROM deadline_tallies AS d
      WHERE d.deadline = '-infinity') AS u
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;
