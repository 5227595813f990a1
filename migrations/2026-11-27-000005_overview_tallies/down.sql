-- Back to the tallies of migration 000004 (keyed by the deadline of open pledges), rebuilt from
-- the raw rows: the collapsed deadlines of deadline_tallies cannot be split again.
DROP FUNCTION overview_of(uuid, text[], uuid, integer, date, text);
DROP FUNCTION tally_version();
DROP FUNCTION child_tally(uuid, uuid, integer, date);
DROP FUNCTION subtree_tally(text, text, uuid, integer, date);
DROP FUNCTION subtree_tally_rows(text, text, uuid, integer, date);
DROP FUNCTION fold_tallies();
DROP FUNCTION tally_slices(text, uuid, integer);
DROP TABLE tally_state;
DROP TRIGGER organizations_tally_update ON organizations;
CREATE TRIGGER organizations_tally_update AFTER UPDATE ON organizations
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path OR OLD.kind IS DISTINCT FROM NEW.kind
        OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION tally_organization();
DROP TABLE deadline_tallies;
DROP TABLE tallies;
DELETE FROM tally_deltas;
ALTER TABLE tally_deltas
    ALTER COLUMN entity TYPE text COLLATE "default",
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN status TYPE text COLLATE "default",
    ALTER COLUMN result TYPE text COLLATE "default";

CREATE TABLE tallies (
    ancestor_path   text COLLATE "C" NOT NULL,
    entity          text NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    kind            text NOT NULL,
    status          text NOT NULL,
    result          text NOT NULL,
    open_deadline   date NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (ancestor_path, entity, campaign_id, year, kind, status, result, open_deadline)
);

CREATE FUNCTION fold_tallies() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    -- One folder at a time across every instance; the others skip this round.
    IF NOT pg_try_advisory_xact_lock(7246150) THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM tally_deltas RETURNING *
    ), expanded AS (
        SELECT left(m.organization_path, position) AS ancestor_path, m.entity, m.campaign_id,
               m.year, m.kind, m.status, m.result, m.open_deadline, m.delta
        FROM moved AS m
        CROSS JOIN LATERAL generate_series(1, length(m.organization_path)) AS position
        WHERE substr(m.organization_path, position, 1) = '.'
    ), summed AS (
        SELECT ancestor_path, entity, campaign_id, year, kind, status, result, open_deadline,
               sum(delta) AS delta
        FROM expanded
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(delta) <> 0
    )
    INSERT INTO tallies AS t (ancestor_path, entity, campaign_id, year, kind, status, result, open_deadline, count)
    SELECT * FROM summed ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (ancestor_path, entity, campaign_id, year, kind, status, result, open_deadline)
    DO UPDATE SET count = t.count + excluded.count;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

CREATE FUNCTION subtree_tally(root text, upper text, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (entity text, kind text, status text, result text, overdue boolean, count bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT t.entity, t.kind, t.status, t.result, t.open_deadline < today, t.count
    FROM tallies AS t
    WHERE t.ancestor_path = root
      AND (t.entity = 'o' OR ((in_campaign IS NULL OR t.campaign_id = in_campaign)
                              AND (in_year IS NULL OR t.year = in_year)))
    UNION ALL
    SELECT d.entity, d.kind, d.status, d.result, d.open_deadline < today, d.delta
    FROM tally_deltas AS d
    WHERE d.organization_path >= root AND d.organization_path < upper
      AND (d.entity = 'o' OR ((in_campaign IS NULL OR d.campaign_id = in_campaign)
                              AND (in_year IS NULL OR d.year = in_year)));
END
$$;

-- The direct children of `parent` in name order, with their own registered pledges and the
-- overdue pledges of their whole subtrees.
CREATE FUNCTION child_overview(parent uuid, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (id uuid, name text, active boolean, registered bigint, overdue bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT c.id, c.name, c.active,
        (SELECT count(*) FROM pledges AS p
         WHERE p.organization_id = c.id
           AND (in_campaign IS NULL OR p.campaign_id = in_campaign)
           AND (in_year IS NULL OR p.year = in_year)
           AND p.status IN ('submitted', 'approved', 'assessed')),
        (SELECT coalesce(sum(t.count), 0) FROM tallies AS t
         WHERE t.ancestor_path = c.path AND t.entity = 'p' AND t.open_deadline < today
           AND (in_campaign IS NULL OR t.campaign_id = in_campaign)
           AND (in_year IS NULL OR t.year = in_year))::bigint
        + (SELECT coalesce(sum(d.delta), 0) FROM tally_deltas AS d
           WHERE d.organization_path >= c.path AND d.organization_path < left(c.path, -1) || '/'
             AND d.entity = 'p' AND d.open_deadline < today
             AND (in_campaign IS NULL OR d.campaign_id = in_campaign)
             AND (in_year IS NULL OR d.year = in_year))::bigint
    FROM organizations AS c
    WHERE c.parent_id = parent
    ORDER BY c.name COLLATE "vi-x-icu", c.id;
END
$$;

-- The counts of each direct child's subtree (pledges and nominations); keys may repeat.
CREATE FUNCTION child_tally(parent uuid, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (child text, entity text, kind text, status text, result text, overdue boolean, count bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT c.path::text, x.entity, x.kind, x.status, x.result, x.open_deadline < today, x.count
    FROM organizations AS c
    CROSS JOIN LATERAL (
        SELECT t.entity, t.kind, t.status, t.result, t.open_deadline, t.count
        FROM tallies AS t
        WHERE t.ancestor_path = c.path AND t.entity <> 'o'
          AND (in_campaign IS NULL OR t.campaign_id = in_campaign)
          AND (in_year IS NULL OR t.year = in_year)
        UNION ALL
        SELECT d.entity, d.kind, d.status, d.result, d.open_deadline, d.delta
        FROM tally_deltas AS d
        WHERE d.organization_path >= c.path AND d.organization_path < left(c.path, -1) || '/'
          AND d.entity <> 'o'
          AND (in_campaign IS NULL OR d.campaign_id = in_campaign)
          AND (in_year IS NULL OR d.year = in_year)
    ) AS x
    WHERE c.parent_id = parent;
END
$$;

INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
SELECT organization_path, 'p', campaign_id, year, kind, status, coalesce(result, 'none'),
       CASE WHEN status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE deadline END, count(*)
FROM pledges GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
UNION ALL
SELECT organization_path, 'n', campaign_id, year, nominee_type, status, 'none', 'infinity'::date, count(*)
FROM nominations GROUP BY 1, 2, 3, 4, 5, 6
UNION ALL
SELECT path, 'o', '00000000-0000-0000-0000-000000000000'::uuid, 0, kind,
       CASE WHEN active THEN 'active' ELSE 'inactive' END, 'none', 'infinity'::date, count(*)
FROM organizations GROUP BY 1, 2, 3, 4, 5, 6;
SELECT fold_tallies();
