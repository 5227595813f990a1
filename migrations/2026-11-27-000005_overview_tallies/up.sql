-- Overdue counts kept apart from the other counts, a slice per filter, and the overview in
-- one call.
--
-- Migration 000004 keyed every pledge tally by the deadline of the open pledges it counts, so
-- that "overdue" was exact for any day. It made each ancestor hold a row per distinct deadline
-- (about 550 rows per unit at national scale), and the overview scanned that for the root and
-- for each child again, then summed over campaigns and years when the request named neither.
-- Here:
--
-- * `tallies` loses the deadline: counts by entity, campaign, year, kind, status and result.
-- * `deadline_tallies` counts the open pledges (neither assessed nor withdrawn) by deadline.
--   Deadlines before the horizon (two days before the database's current date when the fold
--   last moved it; `tally_state`) are folded into one `-infinity` row per key, so "deadline
--   before today" is a range of a few rows whatever the history: every reader's today is later
--   than the horizon.
-- * Pledges and nominations are counted in four slices: their campaign and year, their
--   campaign in all years (year 0), all campaigns in their year (the nil campaign), and all
--   campaigns in all years. Whatever filters a request names, its counts are one index range
--   with no sum over campaigns or years. Organizations are counted once, in the nil campaign
--   and year 0.
-- * Tally rows whose count falls to zero are deleted by the fold; keys compare bytewise
--   (COLLATE "C") and the primary keys include the count, so readers sum index entries.
-- * `overview_of()` answers the whole overview (the unit, its counts, its direct children with
--   their coverage and overdue) in one statement, as JSON text, after checking visibility: one
--   round trip from the service.

-- The campaign and year slices that count a row of `entity` in `campaign` and `year`.
CREATE FUNCTION tally_slices(in_entity text, in_campaign uuid, in_year integer)
RETURNS TABLE (campaign_id uuid, year integer) LANGUAGE sql IMMUTABLE AS $$
    SELECT s.campaign_id, s.year
    FROM (VALUES (in_campaign, in_year, true),
                 ('00000000-0000-0000-0000-000000000000'::uuid, in_year, in_entity <> 'o'),
                 (in_campaign, 0, in_entity <> 'o'),
                 ('00000000-0000-0000-0000-000000000000'::uuid, 0, in_entity <> 'o'))
         AS s (campaign_id, year, wanted)
    WHERE s.wanted
$$;

-- What is pending goes into the old tallies first; they are then regrouped.
SELECT fold_tallies();

ALTER TABLE tallies RENAME TO tallies_by_deadline;
ALTER TABLE tallies_by_deadline RENAME CONSTRAINT tallies_pkey TO tallies_by_deadline_pkey;

CREATE TABLE tallies (
    ancestor_path   text COLLATE "C" NOT NULL,
    entity          text COLLATE "C" NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    kind            text COLLATE "C" NOT NULL,
    status          text COLLATE "C" NOT NULL,
    result          text COLLATE "C" NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (ancestor_path, entity, campaign_id, year, kind, status, result) INCLUDE (count)
);
CREATE INDEX tallies_zero_idx ON tallies (ancestor_path) WHERE count = 0;

CREATE TABLE deadline_tallies (
    ancestor_path   text COLLATE "C" NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    deadline        date NOT NULL,
    kind            text COLLATE "C" NOT NULL,
    status          text COLLATE "C" NOT NULL,
    result          text COLLATE "C" NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (ancestor_path, campaign_id, year, deadline, kind, status, result) INCLUDE (count)
);
CREATE INDEX deadline_tallies_zero_idx ON deadline_tallies (ancestor_path) WHERE count = 0;

-- Keys compare bytewise: grouping them never calls the locale's collation.
ALTER TABLE tally_deltas
    ALTER COLUMN entity TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN status TYPE text COLLATE "C",
    ALTER COLUMN result TYPE text COLLATE "C";

-- One row. Deadlines before `collapsed_before` are kept as `-infinity` in deadline_tallies.
-- `generation` counts the folds that moved deltas or merged deadlines: within one generation
-- the deltas table only grows, and every snapshot sees a prefix of the commits, so
-- (generation, number of visible deltas) names the state of every count exactly (see
-- `tally_version()`).
CREATE TABLE tally_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    collapsed_before date NOT NULL,
    generation       bigint NOT NULL DEFAULT 0
);
INSERT INTO tally_state (collapsed_before) VALUES (current_date - 2);

-- A rename changes what the overview says about a unit: it queues a (net zero) delta too, so
-- the tally version moves.
DROP TRIGGER organizations_tally_update ON organizations;
CREATE TRIGGER organizations_tally_update AFTER UPDATE ON organizations
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path OR OLD.kind IS DISTINCT FROM NEW.kind
        OR OLD.active IS DISTINCT FROM NEW.active OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.parent_id IS DISTINCT FROM NEW.parent_id)
    EXECUTE FUNCTION tally_organization();

-- The version of everything the tallies say, as seen by the current snapshot: it changes
-- whenever any count, any unit's name, place or state, or any pending delta changes. Answers
-- computed from the tallies can be kept under it and reused while it stays the same.
-- PL/pgSQL: its query is planned once per connection (an SQL function with subqueries is not
-- inlined, and would be planned on every call).
CREATE FUNCTION tally_version() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT s.generation || '.' || (SELECT count(*) FROM tally_deltas) FROM tally_state AS s);
END
$$;

INSERT INTO tallies (ancestor_path, entity, campaign_id, year, kind, status, result, count)
SELECT t.ancestor_path, t.entity, s.campaign_id, s.year, t.kind, t.status, t.result, sum(t.count)
FROM tallies_by_deadline AS t
CROSS JOIN LATERAL tally_slices(t.entity, t.campaign_id, t.year) AS s
GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum(t.count) <> 0;

INSERT INTO deadline_tallies (ancestor_path, campaign_id, year, deadline, kind, status, result, count)
SELECT t.ancestor_path, s.campaign_id, s.year,
       CASE WHEN t.open_deadline < current_date - 2 THEN '-infinity'::date ELSE t.open_deadline END,
       t.kind, t.status, t.result, sum(t.count)
FROM tallies_by_deadline AS t
CROSS JOIN LATERAL tally_slices(t.entity, t.campaign_id, t.year) AS s
WHERE t.entity = 'p' AND t.open_deadline <> 'infinity'
GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum(t.count) <> 0;

DROP FUNCTION child_overview(uuid, uuid, integer, date);
DROP FUNCTION child_tally(uuid, uuid, integer, date);
DROP FUNCTION subtree_tally(text, text, uuid, integer, date);
DROP TABLE tallies_by_deadline;

-- Moves the committed deltas into the tallies of every ancestor of their unit (the unit
-- included), in every slice; once a day it then moves the horizon and merges the deadlines
-- that fell behind it. Returns the number of tally rows written; 0 when another fold holds
-- the lock.
CREATE OR REPLACE FUNCTION fold_tallies() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    horizon date;
    written bigint;
    moved_count bigint;
BEGIN
    -- One folder at a time across every instance; the others skip this round.
    IF NOT pg_try_advisory_xact_lock(7246150) THEN
        RETURN 0;
    END IF;

    SELECT collapsed_before INTO horizon FROM tally_state;

    WITH moved AS (
        DELETE FROM tally_deltas RETURNING *
    ), expanded AS (
        SELECT left(m.organization_path, position) AS ancestor_path, m.entity, s.campaign_id,
               s.year, m.kind, m.status, m.result, m.open_deadline, m.delta
        FROM moved AS m
        CROSS JOIN LATERAL tally_slices(m.entity, m.campaign_id, m.year) AS s
        CROSS JOIN LATERAL generate_series(1, length(m.organization_path)) AS position
        WHERE substr(m.organization_path, position, 1) = '.'
    ), counted AS (
        INSERT INTO tallies AS t (ancestor_path, entity, campaign_id, year, kind, status, result, count)
        SELECT ancestor_path, entity, campaign_id, year, kind, status, result, sum(delta)
        FROM expanded
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(delta) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (ancestor_path, entity, campaign_id, year, kind, status, result)
        DO UPDATE SET count = t.count + excluded.count
        RETURNING 1
    ), dated AS (
        INSERT INTO deadline_tallies AS t (ancestor_path, campaign_id, year, deadline, kind, status, result, count)
        SELECT ancestor_path, campaign_id, year,
               CASE WHEN open_deadline < horizon THEN '-infinity'::date ELSE open_deadline END,
               kind, status, result, sum(delta)
        FROM expanded
        WHERE entity = 'p' AND open_deadline <> 'infinity'
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(delta) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (ancestor_path, campaign_id, year, deadline, kind, status, result)
        DO UPDATE SET count = t.count + excluded.count
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM counted) + (SELECT count(*) FROM dated), (SELECT count(*) FROM moved)
    INTO written, moved_count;

    -- Once a day: the deadlines that fell behind the new horizon join the -infinity rows.
    IF horizon < current_date - 2 THEN
        horizon := current_date - 2;
        WITH passed AS (
            DELETE FROM deadline_tallies
            WHERE deadline > '-infinity' AND deadline < horizon
            RETURNING *
        )
        INSERT INTO deadline_tallies AS t (ancestor_path, campaign_id, year, deadline, kind, status, result, count)
        SELECT ancestor_path, campaign_id, year, '-infinity'::date, kind, status, result, sum(count)
        FROM passed
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (ancestor_path, campaign_id, year, deadline, kind, status, result)
        DO UPDATE SET count = t.count + excluded.count;
        UPDATE tally_state SET collapsed_before = horizon;
        moved_count := moved_count + 1;
    END IF;
    IF moved_count > 0 THEN
        UPDATE tally_state SET generation = generation + 1;
    END IF;

    -- Keys nobody holds any more (both indexes are partial: only such rows).
    DELETE FROM tallies WHERE count = 0;
    DELETE FROM deadline_tallies WHERE count = 0;
    RETURN written;
END
$$;

-- What readers ask. A subtree is the range [root, upper) of paths (upper: the root's path with
-- its last '.' turned into '/'). A NULL campaign or year means all of them: the nil campaign
-- and year 0 slices.

-- Every count of the subtree `root` in the window, by entity and key, with the overdue ones
-- among them; keys may repeat (a tally, its overdue row, its pending deltas): the caller adds
-- them up. A single SELECT in SQL, so the planner inlines it into the query that calls it;
-- called from outside a function, it would be planned on every call (see subtree_tally).
CREATE FUNCTION subtree_tally_rows(root text, upper text, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (entity text, kind text, status text, result text, count bigint, overdue bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.entity, t.kind, t.status, t.result, t.count, 0::bigint
    FROM tallies AS t
    WHERE t.ancestor_path = root AND t.entity = 'o'
    UNION ALL
    SELECT t.entity, t.kind, t.status, t.result, t.count, 0::bigint
    FROM tallies AS t
    WHERE t.ancestor_path = root AND t.entity IN ('n', 'p')
      AND t.campaign_id = coalesce(in_campaign, '00000000-0000-0000-0000-000000000000')
      AND t.year = coalesce(in_year, 0)
    UNION ALL
    SELECT 'p', t.kind, t.status, t.result, 0::bigint, t.count
    FROM deadline_tallies AS t
    WHERE t.ancestor_path = root
      AND t.campaign_id = coalesce(in_campaign, '00000000-0000-0000-0000-000000000000')
      AND t.year = coalesce(in_year, 0)
      AND t.deadline < today
    UNION ALL
    SELECT d.entity, d.kind, d.status, d.result, d.delta,
           CASE WHEN d.open_deadline < today THEN d.delta ELSE 0 END
    FROM tally_deltas AS d
    WHERE d.organization_path >= root AND d.organization_path < upper
      AND (d.entity = 'o' OR ((in_campaign IS NULL OR d.campaign_id = in_campaign)
                              AND (in_year IS NULL OR d.year = in_year)))
$$;

-- subtree_tally_rows for the service: PL/pgSQL with the generic plan, so each connection plans
-- it once (planning the inlined query cost ~0.35 ms per call, more than running it).
CREATE FUNCTION subtree_tally(root text, upper text, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (entity text, kind text, status text, result text, count bigint, overdue bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM subtree_tally_rows(root, upper, in_campaign, in_year, today);
END
$$;

-- The counts of each direct child's subtree (pledges and nominations); keys may repeat.
-- PL/pgSQL with the generic plan, so each connection plans it once.
CREATE FUNCTION child_tally(parent uuid, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (child text, entity text, kind text, status text, result text, count bigint, overdue bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT c.path::text, x.entity, x.kind, x.status, x.result, x.count, x.overdue
    FROM organizations AS c
    CROSS JOIN LATERAL subtree_tally_rows(c.path, left(c.path, -1) || '/', in_campaign, in_year, today) AS x
    WHERE c.parent_id = parent AND x.entity <> 'o';
END
$$;

-- The overview of the unit `root_id` as JSON text, or NULL when no such unit exists or none of
-- the subtrees `visible` holds it (NULL: every unit is visible):
--   {"version", "path", "name",
--    "counts": [[entity, kind, status, result, count, overdue], …],
--    "children": [[id, name, active, registered, overdue], …]}   (children in name order)
-- `registered`: the child has a pledge of its own in the window that was submitted and not
-- withdrawn; `overdue`: open pledges past their deadline in the child's whole subtree.
-- When `known_version` is the current `tally_version()`, nothing is computed nor checked: the
-- answer is {"version", "unchanged": true}, and the caller reuses the overview it computed
-- under that version (it checks visibility against the path that overview came with).
-- PL/pgSQL, so each connection plans it once, and always with the generic plan: the custom
-- plans PostgreSQL would otherwise keep choosing cost a planning per call (+50% in all) and
-- are no better. One statement computes the answer.
CREATE FUNCTION overview_of(root_id uuid, visible text[], in_campaign uuid, in_year integer, today date,
                            known_version text)
RETURNS text LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    root_path text;
    root_name text;
    version text := tally_version();
BEGIN
    IF version = known_version THEN
        RETURN json_build_object('version', version, 'unchanged', true)::text;
    END IF;
    SELECT o.path, o.name INTO root_path, root_name FROM organizations AS o WHERE o.id = root_id;
    IF NOT FOUND OR NOT (visible IS NULL
                         OR EXISTS (SELECT 1 FROM unnest(visible) AS v(prefix)
                                    WHERE starts_with(root_path, v.prefix))) THEN
        RETURN NULL;
    END IF;
    RETURN json_build_object(
        'version', version,
        'path', root_path,
        'name', root_name,
        'counts', (
            SELECT coalesce(json_agg(json_build_array(s.entity, s.kind, s.status, s.result, s.count, s.overdue)), '[]')
            FROM (SELECT x.entity, x.kind, x.status, x.result, sum(x.count) AS count, sum(x.overdue) AS overdue
                  FROM subtree_tally_rows(root_path, left(root_path, -1) || '/', in_campaign, in_year, today) AS x
                  GROUP BY 1, 2, 3, 4) AS s),
        'children', (
            SELECT coalesce(json_agg(json_build_array(c.id, c.name, c.active, c.registered, c.overdue)
                                     ORDER BY c.name COLLATE "vi-x-icu", c.id), '[]')
            FROM (SELECT c.id, c.name, c.active,
                         EXISTS (SELECT 1 FROM pledges AS p
                                 WHERE p.organization_id = c.id
                                   AND (in_campaign IS NULL OR p.campaign_id = in_campaign)
                                   AND (in_year IS NULL OR p.year = in_year)
                                   AND p.status IN ('submitted', 'approved', 'assessed')) AS registered,
                         -- The overdue branches of subtree_tally_rows alone: summing its
                         -- overdue column would scan every count of the child too.
                         coalesce((SELECT sum(t.count) FROM deadline_tallies AS t
                                   WHERE t.ancestor_path = c.path
                                     AND t.campaign_id = coalesce(in_campaign, '00000000-0000-0000-0000-000000000000')
                                     AND t.year = coalesce(in_year, 0)
                                     AND t.deadline < today), 0)
                         + coalesce((SELECT sum(d.delta) FROM tally_deltas AS d
                                     WHERE d.organization_path >= c.path
                                       AND d.organization_path < left(c.path, -1) || '/'
                                       AND d.entity = 'p' AND d.open_deadline < today
                                       AND (in_campaign IS NULL OR d.campaign_id = in_campaign)
                                       AND (in_year IS NULL OR d.year = in_year)), 0) AS overdue
                  FROM organizations AS c
                  WHERE c.parent_id = root_id) AS c))::text;
END
$$;
