-- /stats/coverage asked of every expected unit whether it registered a pledge (a probe of the
-- pledges index) and counted the registered pledges of the units of its page (about 118 index
-- entries a unit at 10M pledges, 12 at 1M): 2.0-4.0x slower at 10M than at 1M. The path-keyed
-- tallies cannot answer it: they count subtrees, and a unit's pledges of the years before a
-- restructuring keep the path they had then. So a unit's own registered pledges are now
-- counted by unit id, in the same four campaign and year slices as the tallies (one row
-- answers any window), folded from the same queue of deltas, which now carry the pledge's
-- unit id.
ALTER TABLE tally_deltas ADD COLUMN organization_id uuid;
-- Coverage adds the queued deltas of its units (a few, as the fold drains the queue each
-- second). The deltas queued before this migration carry no unit: the backfill below counts
-- their rows already.
CREATE INDEX tally_deltas_unit_idx ON tally_deltas (organization_id) WHERE organization_id IS NOT NULL;

CREATE TABLE unit_tallies (
    organization_id uuid NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    registered      bigint NOT NULL,
    PRIMARY KEY (organization_id, campaign_id, year)
);
-- Keys nobody holds any more, deleted after each fold (as for the other tallies).
CREATE INDEX unit_tallies_zero_idx ON unit_tallies (organization_id) WHERE registered = 0;

-- The pledges that exist, registered (submitted, approved, assessed), in each slice: their
-- campaign and year, all campaigns (the nil campaign), all years (year 0). The replaceable
-- schema (r.pledge_is_registered, r.tally_slices) is absent while migrations run: both are
-- spelled out. A writer waits for the commit, so no change is counted twice or missed.
LOCK TABLE pledges IN SHARE MODE;
INSERT INTO unit_tallies (organization_id, campaign_id, year, registered)
SELECT u.organization_id, s.campaign_id, s.year, sum(u.registered)
FROM (SELECT organization_id, campaign_id, year, count(*) AS registered
      FROM pledges WHERE status IN ('submitted', 'approved', 'assessed')
      GROUP BY 1, 2, 3) AS u
CROSS JOIN LATERAL (VALUES (u.campaign_id, u.year),
                           ('00000000-0000-0000-0000-000000000000'::uuid, u.year),
                           (u.campaign_id, 0),
                           ('00000000-0000-0000-0000-000000000000'::uuid, 0)) AS s (campaign_id, year)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
