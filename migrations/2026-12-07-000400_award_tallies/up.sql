-- /stats/awards at a wide subtree summed every award under it (188 ms at the root of 10M
-- pledges with 200 000 awards): the awards are now also counted per ancestor, title, year and
-- subject type, with their sums, as the records are in `tallies`. A row per ancestor of the
-- award's unit (the unit included), kept by the statement triggers of `r.tally_awards`
-- (src/db/replaceable.sql) in the writer's transaction, so a reader sees exactly its snapshot's
-- awards. Awards are written by decisions, revocations and restructurings (few, and already
-- serialized per issuer and year), so they take no queue of deltas as the records do.
CREATE TABLE award_tallies (
    ancestor_path  text COLLATE "C" NOT NULL,
    year           integer NOT NULL,
    title_code     text NOT NULL,
    subject_type   text NOT NULL CHECK (subject_type IN ('person', 'organization')),
    awards         bigint NOT NULL,
    reward_total   bigint NOT NULL,
    revoked        bigint NOT NULL,
    recovery_total bigint NOT NULL,
    PRIMARY KEY (ancestor_path, year, title_code, subject_type)
);

-- The awards that exist (the replaceable schema, and its ancestor_paths, is absent while
-- migrations run: the prefixes are spelled out here).
INSERT INTO award_tallies
SELECT left(a.organization_path, position), a.year, a.title_code,
       CASE WHEN a.person_id IS NULL THEN 'organization' ELSE 'person' END,
       count(*) FILTER (WHERE a.revoked_at IS NULL),
       coalesce(sum(a.reward_amount) FILTER (WHERE a.revoked_at IS NULL), 0),
       count(*) FILTER (WHERE a.revoked_at IS NOT NULL),
       coalesce(sum(a.recovery_amount) FILTER (WHERE a.revoked_at IS NOT NULL), 0)
FROM awards AS a
CROSS JOIN LATERAL generate_series(1, length(a.organization_path)) AS position
WHERE substr(a.organization_path, position, 1) = '.'
GROUP BY 1, 2, 3, 4;

-- The range of paths that /stats/awards read before the tallies (migration 2026-12-07-000300)
-- has no reader left.
DROP INDEX awards_subtree_idx;
