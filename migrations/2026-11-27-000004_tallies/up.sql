-- Subtree tallies: what the aggregates read instead of the raw rows.
--
-- Every write to pledges, nominations or organizations appends its change of counts to
-- `tally_deltas` (statement triggers below): one small insert, no shared row, so concurrent
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

CREATE FUNCTION tally_pledges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT organization_path, 'p', campaign_id, year, kind, status, coalesce(result, 'none'),
               CASE WHEN status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE deadline END,
               count(*)
        FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT organization_path, 'p', campaign_id, year, kind, status, coalesce(result, 'none'),
               CASE WHEN status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE deadline END,
               -count(*)
        FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
    ELSE
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT organization_path, 'p', campaign_id, year, kind, status, result, open_deadline, sum(delta)
        FROM (
            SELECT organization_path, campaign_id, year, kind, status, coalesce(result, 'none') AS result,
                   CASE WHEN status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE deadline END AS open_deadline,
                   -1 AS delta
            FROM old_rows
            UNION ALL
            SELECT organization_path, campaign_id, year, kind, status, coalesce(result, 'none'),
                   CASE WHEN status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE deadline END,
                   1
            FROM new_rows
        ) AS changes
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(delta) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tally_nominations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT organization_path, 'n', campaign_id, year, nominee_type, status, 'none', 'infinity'::date, count(*)
        FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT organization_path, 'n', campaign_id, year, nominee_type, status, 'none', 'infinity'::date, -count(*)
        FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6;
    ELSE
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT organization_path, 'n', campaign_id, year, nominee_type, status, 'none', 'infinity'::date, sum(delta)
        FROM (
            SELECT organization_path, campaign_id, year, nominee_type, status, -1 AS delta FROM old_rows
            UNION ALL
            SELECT organization_path, campaign_id, year, nominee_type, status, 1 FROM new_rows
        ) AS changes
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(delta) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tally_organizations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT path, 'o', '00000000-0000-0000-0000-000000000000'::uuid, 0, kind,
               CASE WHEN active THEN 'active' ELSE 'inactive' END, 'none', 'infinity'::date, count(*)
        FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT path, 'o', '00000000-0000-0000-0000-000000000000'::uuid, 0, kind,
               CASE WHEN active THEN 'active' ELSE 'inactive' END, 'none', 'infinity'::date, -count(*)
        FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6;
    ELSE
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
        SELECT path, 'o', '00000000-0000-0000-0000-000000000000'::uuid, 0, kind, status, 'none', 'infinity'::date, sum(delta)
        FROM (
            SELECT path, kind, CASE WHEN active THEN 'active' ELSE 'inactive' END AS status, -1 AS delta FROM old_rows
            UNION ALL
            SELECT path, kind, CASE WHEN active THEN 'active' ELSE 'inactive' END, 1 FROM new_rows
        ) AS changes
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(delta) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pledges_tally_insert AFTER INSERT ON pledges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_pledges();
CREATE TRIGGER pledges_tally_update AFTER UPDATE ON pledges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_pledges();
CREATE TRIGGER pledges_tally_delete AFTER DELETE ON pledges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_pledges();
CREATE TRIGGER nominations_tally_insert AFTER INSERT ON nominations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_nominations();
CREATE TRIGGER nominations_tally_update AFTER UPDATE ON nominations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_nominations();
CREATE TRIGGER nominations_tally_delete AFTER DELETE ON nominations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_nominations();
CREATE TRIGGER organizations_tally_insert AFTER INSERT ON organizations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_organizations();
CREATE TRIGGER organizations_tally_update AFTER UPDATE ON organizations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_organizations();
CREATE TRIGGER organizations_tally_delete AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_organizations();

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
