-- Subtree tallies: what the aggregates read instead of the raw rows.
--
-- Every write to pledges, nominations or organizations appends its change of counts to
-- `tally_deltas` (row triggers below): one small insert, no shared row, so concurrent
-- writers never queue on a hot root counter. A fold (`fold_tallies()`, run every second by the
-- service, at most one at a time) moves the deltas into `tallies`, one row per ancestor and key.
-- A reader sums the tallies of its subtree root plus the deltas not folded yet under that root,
-- in one statement: one snapshot sees every change exactly once, folded or not, so the figures
-- equal a count over the raw rows at any moment.
--
-- Keys: entity ('p' pledge, 'n' nomination, 'o' organization), campaign and year (nil uuid and
-- 0 for organizations), kind (pledge kind, nominee type or organization kind), status (active or
-- inactive for organizations), result ('none' when unset), and the deadline of pledges not yet
-- closed ('infinity' once assessed or withdrawn), which makes "overdue" exact for any day.

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

CREATE TABLE tally_deltas (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_path text COLLATE "C" NOT NULL,
    entity          text NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    kind            text NOT NULL,
    status          text NOT NULL,
    result          text NOT NULL,
    open_deadline   date NOT NULL,
    delta           bigint NOT NULL
);
CREATE INDEX tally_deltas_path_idx ON tally_deltas (organization_path);
-- A queue: rows live about a second. Vacuum it as soon as dead rows pile up, so readers'
-- range scans over it stay a few pages (the service also vacuums it after folds).
ALTER TABLE tally_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                              autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
                              autovacuum_analyze_threshold = 1000);

-- Row triggers: one insert into the deltas per changed row (a statement trigger with transition
-- tables costs more for the single-row writes the API makes); updates that leave every key
-- column alone (progress reports, edits of a draft's text) do not even call the function.
CREATE FUNCTION tally_pledge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        VALUES (OLD.organization_path, 'p', OLD.campaign_id, OLD.year, OLD.kind, OLD.status, coalesce(OLD.result, 'none'),
                CASE WHEN OLD.status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE OLD.deadline END, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        VALUES (NEW.organization_path, 'p', NEW.campaign_id, NEW.year, NEW.kind, NEW.status, coalesce(NEW.result, 'none'),
                CASE WHEN NEW.status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE NEW.deadline END, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tally_nomination() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        VALUES (OLD.organization_path, 'n', OLD.campaign_id, OLD.year, OLD.nominee_type, OLD.status, 'none', 'infinity', -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        VALUES (NEW.organization_path, 'n', NEW.campaign_id, NEW.year, NEW.nominee_type, NEW.status, 'none', 'infinity', 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tally_organization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        VALUES (OLD.path, 'o', '00000000-0000-0000-0000-000000000000', 0, OLD.kind,
                CASE WHEN OLD.active THEN 'active' ELSE 'inactive' END, 'none', 'infinity', -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        VALUES (NEW.path, 'o', '00000000-0000-0000-0000-000000000000', 0, NEW.kind,
                CASE WHEN NEW.active THEN 'active' ELSE 'inactive' END, 'none', 'infinity', 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pledges_tally_insert AFTER INSERT ON pledges
    FOR EACH ROW EXECUTE FUNCTION tally_pledge();
CREATE TRIGGER pledges_tally_update AFTER UPDATE ON pledges
    FOR EACH ROW WHEN (OLD.organization_path IS DISTINCT FROM NEW.organization_path
        OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.year IS DISTINCT FROM NEW.year
        OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.result IS DISTINCT FROM NEW.result OR OLD.deadline IS DISTINCT FROM NEW.deadline)
    EXECUTE FUNCTION tally_pledge();
CREATE TRIGGER pledges_tally_delete AFTER DELETE ON pledges
    FOR EACH ROW EXECUTE FUNCTION tally_pledge();
CREATE TRIGGER nominations_tally_insert AFTER INSERT ON nominations
    FOR EACH ROW EXECUTE FUNCTION tally_nomination();
CREATE TRIGGER nominations_tally_update AFTER UPDATE ON nominations
    FOR EACH ROW WHEN (OLD.organization_path IS DISTINCT FROM NEW.organization_path
        OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.year IS DISTINCT FROM NEW.year
        OR OLD.nominee_type IS DISTINCT FROM NEW.nominee_type OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tally_nomination();
CREATE TRIGGER nominations_tally_delete AFTER DELETE ON nominations
    FOR EACH ROW EXECUTE FUNCTION tally_nomination();
CREATE TRIGGER organizations_tally_insert AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION tally_organization();
CREATE TRIGGER organizations_tally_update AFTER UPDATE ON organizations
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path OR OLD.kind IS DISTINCT FROM NEW.kind
        OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION tally_organization();
CREATE TRIGGER organizations_tally_delete AFTER DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION tally_organization();

-- Moves the committed deltas into the tallies of every ancestor of their unit (the unit
-- included). Returns the number of tally rows written; 0 when another fold holds the lock.
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

-- What readers ask, as functions so each connection plans them once (PL/pgSQL caches plans;
-- a query sent as text is planned on every call). A subtree is the range [root, upper) of
-- paths (upper: the root's path with its last '.' turned into '/').

-- Every count of the subtree `root` in the window, by entity and key; keys may repeat (a tally
-- and its pending deltas): the caller adds them up.
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

-- Coverage counts a unit's own registered pledges: answered from the index alone.
DROP INDEX pledges_organization_idx;
CREATE INDEX pledges_organization_idx ON pledges (organization_id, campaign_id, year, status);

-- The rows that exist already.
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
