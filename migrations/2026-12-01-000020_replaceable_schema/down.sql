-- Back to the functions and triggers as migrations 000001-000005 defined them in `public`,
-- verbatim (the down test compares the schema before this migration with the one after its
-- revert). The replaceable schema goes first: its triggers have the same names on the same
-- tables. A binary of this migration or later recreates `r` at its next start.
DROP SCHEMA IF EXISTS r CASCADE;

-- Migrations 000001-000003: the append-only tables.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER pledge_progress_no_update BEFORE UPDATE OR DELETE ON pledge_progress
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER nomination_reviews_no_update BEFORE UPDATE OR DELETE ON nomination_reviews
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- Migration 000004 (the organizations' update trigger as 000005 redefined it).
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
        OR OLD.active IS DISTINCT FROM NEW.active OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.parent_id IS DISTINCT FROM NEW.parent_id)
    EXECUTE FUNCTION tally_organization();
CREATE TRIGGER organizations_tally_delete AFTER DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION tally_organization();

-- Migration 000005.
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

CREATE FUNCTION tally_version() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT s.generation || '.' || (SELECT count(*) FROM tally_deltas) FROM tally_state AS s);
END
$$;

CREATE FUNCTION fold_tallies() RETURNS bigint LANGUAGE plpgsql AS $$
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

CREATE FUNCTION subtree_tally(root text, upper text, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (entity text, kind text, status text, result text, count bigint, overdue bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM subtree_tally_rows(root, upper, in_campaign, in_year, today);
END
$$;

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
