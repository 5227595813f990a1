-- The replaceable schema: the current definition of every SQL function and trigger of thidua,
-- in this one file. Edit it in place; never copy a function into a migration again.
--
-- How it is applied (src/db/mod.rs, `run_migrations`, at `serve`, `migrate` and for the test
-- template): under the migrations' advisory lock and in ONE transaction, when migrations are
-- pending or the SHA-256 of this file differs from the one stored as the comment of schema
-- `r`, the migrator drops schema `r` with CASCADE, applies the pending migrations, runs this
-- file and stores its hash. Otherwise it touches nothing, so instances starting together or
-- one after another in a rolling deploy recreate it once, and callers (old instances
-- included) see either the old definitions or the new ones, never none. Why so:
--
-- * A dedicated schema, dropped with CASCADE (Lemmy's model): a function or trigger removed
--   from this file disappears without a DROP written by hand, and the triggers, which depend
--   on their functions, go and come back with them. Migrations run while `r` is absent, so
--   they may alter any column a trigger's WHEN clause names.
-- * Nothing outside `r` may depend on `r`: no index, generated column, CHECK or view uses a
--   function from here (CASCADE would drop it silently). That is why `search_fold()` (used by
--   generated columns and trigram indexes) stays in migration 000001 in `public`, and why the
--   partial indexes on statuses spell their lists out in the migrations; the predicates below
--   are inlined into queries, where the planner still proves those indexes usable.
-- * Tables stay in `public` and are named unqualified; functions of `r` are named qualified
--   (`r.tally_version()`), here and in the Rust code (`sql_query`, `define_sql_function!` with
--   `sql_name`), so no connection depends on its search_path including `r`, and no function
--   needs a SET search_path clause (which would keep SQL functions from being inlined).
-- * Function settings are part of the definition: the readers keep `SET plan_cache_mode =
--   force_generic_plan` (planned once per connection; see each function).
-- * The tables these functions use (tally_deltas, tallies, deadline_tallies, tally_state,
--   audit_events, …) belong to the migrations; the functions of migrations 000001-000005
--   were dropped from `public` by migration 000020, whose down.sql puts back 000005's state.
-- * Old instances of a rolling deploy call these functions too: change a signature or an
--   answer only compatibly (a new function beside the old one, removed a release later).

CREATE SCHEMA r;

-- Domain predicates, written once. Plain SQL, IMMUTABLE, no SET clause and not STRICT, so
-- the planner inlines each call into the query that makes it: a partial index whose WHERE
-- spells the same list (nominations_exemplars_idx, nominations_nominee_key_unique) still
-- serves `WHERE r.nomination_is_exemplar(status)`. The Rust predicates with the same names
-- (PledgeStatus::is_registered, …) must agree: tests/api/sql_schema.rs checks every value.

-- A registered pledge counts for coverage: submitted and not withdrawn
-- (PledgeStatus::is_registered).
CREATE FUNCTION r.pledge_is_registered(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status IN ('submitted', 'approved', 'assessed');

-- An open pledge is still expected to meet its deadline, so it can be overdue: neither
-- assessed nor withdrawn (PledgeStatus::is_open, used by pledges::dto::is_overdue).
CREATE FUNCTION r.pledge_is_open(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status NOT IN ('assessed', 'withdrawn');

-- An assessed pledge whose result attains what it registered (PledgeResult::is_achievement).
-- NULL for a pledge without a result, like the IN list it replaces (false in FILTER/WHERE).
CREATE FUNCTION r.pledge_is_achieved(result text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN result IN ('achieved', 'exceeded');

-- An exemplar: recognized or commended (NominationStatus::is_exemplar).
CREATE FUNCTION r.nomination_is_exemplar(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status IN ('recognized', 'commended');

-- Still a nomination of its nominee, for duplicate detection: neither rejected nor withdrawn
-- (NominationStatus::is_live; the unique indexes of migration 000003 spell it out).
CREATE FUNCTION r.nomination_is_live(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status NOT IN ('rejected', 'withdrawn');

-- Still in progress, so a restructuring carries it to the successor of its unit: drafted,
-- submitted or under review (NominationStatus::is_open).
CREATE FUNCTION r.nomination_is_open(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status IN ('draft', 'submitted', 'under_review');

-- The tree as it stood on a day (restructurings, migration 000100). A unit's place on `day`
-- is its current one when it was placed there on or before `day` (`placed_on` NULL: since it
-- exists), else the row of organization_placements covering `day`. Validity is not checked
-- here: callers that want the units *valid* on `day` add r.unit_valid_on.
CREATE FUNCTION r.placements_on(day date)
RETURNS TABLE (organization_id uuid, parent_id uuid, path text, depth integer)
LANGUAGE sql STABLE AS $$
    SELECT o.id, o.parent_id, o.path, o.depth
    FROM organizations AS o
    WHERE o.placed_on IS NULL OR o.placed_on <= day
    UNION ALL
    SELECT h.organization_id, h.parent_id, h.path, h.depth
    FROM organization_placements AS h
    WHERE (h.placed_on IS NULL OR h.placed_on <= day) AND h.ended_on >= day
$$;

-- The place of one unit on `day` (no row: it was not placed then).
CREATE FUNCTION r.placement_on(unit uuid, day date)
RETURNS TABLE (parent_id uuid, path text, depth integer)
LANGUAGE sql STABLE AS $$
    SELECT p.parent_id, p.path, p.depth FROM r.placements_on(day) AS p WHERE p.organization_id = unit
$$;

-- Whether a unit with this validity exists on `day` (OrganizationRow::valid_on).
CREATE FUNCTION r.unit_valid_on(valid_from date, valid_to date, day date) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (valid_from IS NULL OR valid_from <= day) AND (valid_to IS NULL OR valid_to >= day);

-- The append-only tables: audit_events (migration 000001), pledge_progress (000002) and
-- nomination_reviews (000003) refuse every update and delete, the application's included.
CREATE FUNCTION r.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION r.append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION r.append_only();
CREATE TRIGGER pledge_progress_no_update BEFORE UPDATE OR DELETE ON pledge_progress
    FOR EACH ROW EXECUTE FUNCTION r.append_only();
CREATE TRIGGER nomination_reviews_no_update BEFORE UPDATE OR DELETE ON nomination_reviews
    FOR EACH ROW EXECUTE FUNCTION r.append_only();

-- Awards (migration 2026-12-06-000350) and title registrations (000360) carry the path of their
-- subject's unit: a person's unit, a collective itself, read FOR SHARE so that a concurrent move
-- of the unit (or of the person) is waited for and its new path is read. An award keeps the place
-- where it was conferred: a restructuring moves only the awards of its year and later with the
-- subtree (organizations::repo::place_under). A registration stands where its subject stands
-- today: the two triggers after these carry it along when a person changes unit or a unit's
-- path changes (a move, a restructuring's re-parenting), so the candidates of a subtree are one
-- index range of (title_code, year, organization_path).
CREATE FUNCTION r.place_at_subject() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unit uuid := NEW.organization_id;
BEGIN
    IF unit IS NULL THEN
        SELECT p.organization_id INTO unit FROM persons AS p WHERE p.id = NEW.person_id FOR SHARE;
    END IF;
    SELECT o.path INTO NEW.organization_path FROM organizations AS o WHERE o.id = unit FOR SHARE;
    RETURN NEW;
END $$;
CREATE TRIGGER awards_place BEFORE INSERT ON awards
    FOR EACH ROW EXECUTE FUNCTION r.place_at_subject();
CREATE TRIGGER title_registrations_place BEFORE INSERT ON title_registrations
    FOR EACH ROW EXECUTE FUNCTION r.place_at_subject();

CREATE FUNCTION r.follow_person_registrations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE title_registrations SET organization_path = o.path
    FROM organizations AS o
    WHERE o.id = NEW.organization_id AND title_registrations.subject_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER persons_registrations_follow AFTER UPDATE OF organization_id ON persons
    FOR EACH ROW WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id)
    EXECUTE FUNCTION r.follow_person_registrations();

CREATE FUNCTION r.follow_unit_registrations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE title_registrations SET organization_path = NEW.path
    WHERE subject_id = ANY (NEW.id
        || ARRAY(SELECT p.id FROM persons AS p WHERE p.organization_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER organizations_registrations_follow AFTER UPDATE OF path ON organizations
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path)
    EXECUTE FUNCTION r.follow_unit_registrations();

-- A person carries the path of its unit too (migration 2026-12-07-000200), for the subtree's
-- head indexes of `GET /persons`: set when the person is added or changes unit, rewritten when
-- the unit's path changes.
CREATE FUNCTION r.place_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT o.path INTO NEW.organization_path FROM organizations AS o
    WHERE o.id = NEW.organization_id FOR SHARE;
    RETURN NEW;
END $$;
CREATE TRIGGER persons_place BEFORE INSERT OR UPDATE OF organization_id ON persons
    FOR EACH ROW EXECUTE FUNCTION r.place_person();

CREATE FUNCTION r.follow_unit_persons() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE persons SET organization_path = NEW.path WHERE organization_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER organizations_persons_follow AFTER UPDATE OF path ON organizations
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path)
    EXECUTE FUNCTION r.follow_unit_persons();

-- Subtree tallies (README › Architecture; tables from migrations 000004 and 000005).
--
-- Every write to pledges, nominations or organizations appends its change of counts to
-- `tally_deltas` (row triggers below): one small insert, no shared row, so concurrent writers
-- never queue on a hot root counter. The fold (`r.fold_tallies()`, called every second by the
-- service, at most one at a time) moves the deltas into `tallies` and `deadline_tallies` (and
-- their facets into `facet_tallies` and `facet_deadline_tallies`), one
-- row per ancestor and key. A reader sums the tallies of its subtree root plus the deltas not
-- folded yet under that root, in one statement: one snapshot sees every change exactly once,
-- folded or not, so the figures equal a count over the raw rows at any moment.
--
-- Keys of a delta: entity ('p' pledge, 'n' nomination, 'o' organization), campaign and year
-- (nil uuid and 0 for organizations), kind (pledge kind, nominee type or organization kind),
-- status (active or inactive for organizations), result ('none' when unset), and the deadline
-- of open pledges ('infinity' for the others), which makes "overdue" exact for any day.

-- Facets (migration 000600): besides its keys, a delta carries its row's value in each facet
-- the facet tallies count, NULL where the row does not count in that facet. A pledge's values:
-- its field, the kind of the unit holding it (today's: a unit changing kind moves its rows'
-- counts, r.tally_organization), the month of its deadline, and for a title pledge its title
-- name ('' when it has none); a nomination's: its field.
CREATE FUNCTION r.pledge_facets(in_holder_kind text, in_kind text, in_field text, in_deadline date,
                                in_title_name text)
RETURNS TABLE (field text, holder_kind text, month text, title_name text)
LANGUAGE sql STABLE AS $$
    SELECT in_field, in_holder_kind, to_char(in_deadline, 'YYYY-MM'),
           CASE WHEN in_kind = 'title' THEN coalesce(in_title_name, '') END
$$;

-- The (facet, value) pairs a delta counts in: what the fold writes into facet_tallies and
-- what readers of the queued deltas group by, written once. The title of a title pledge is
-- counted under a facet per unit kind (`title:commune`, …), so title totals filter by unit
-- kind, by title or both.
CREATE FUNCTION r.delta_facets(in_field text, in_holder_kind text, in_month text, in_title_name text)
RETURNS TABLE (facet text, value text) LANGUAGE sql IMMUTABLE AS $$
    SELECT f.facet, f.value
    FROM (VALUES ('field', in_field), ('organization_kind', in_holder_kind), ('month', in_month),
                 ('title:' || in_holder_kind, in_title_name)) AS f (facet, value)
    WHERE f.facet IS NOT NULL AND f.value IS NOT NULL
$$;

-- Row triggers: one insert into the deltas per changed row (a statement trigger with transition
-- tables costs more for the single-row writes the API makes); updates that leave every key
-- column alone (progress reports, edits of a draft's text) do not even call the function.
CREATE FUNCTION r.tally_pledge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline,
                                  field, holder_kind, month, title_name, organization_id, delta)
        SELECT OLD.organization_path, 'p', OLD.campaign_id, OLD.year, OLD.kind, OLD.status, coalesce(OLD.result, 'none'),
               CASE WHEN r.pledge_is_open(OLD.status) THEN OLD.deadline ELSE 'infinity'::date END,
               f.field, f.holder_kind, f.month, f.title_name, OLD.organization_id, -1
        FROM r.pledge_facets((SELECT o.kind FROM organizations AS o WHERE o.id = OLD.organization_id),
                             OLD.kind, OLD.field, OLD.deadline, OLD.title_name) AS f;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline,
                                  field, holder_kind, month, title_name, organization_id, delta)
        SELECT NEW.organization_path, 'p', NEW.campaign_id, NEW.year, NEW.kind, NEW.status, coalesce(NEW.result, 'none'),
               CASE WHEN r.pledge_is_open(NEW.status) THEN NEW.deadline ELSE 'infinity'::date END,
               f.field, f.holder_kind, f.month, f.title_name, NEW.organization_id, 1
        FROM r.pledge_facets((SELECT o.kind FROM organizations AS o WHERE o.id = NEW.organization_id),
                             NEW.kind, NEW.field, NEW.deadline, NEW.title_name) AS f;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION r.tally_nomination() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, field, delta)
        VALUES (OLD.organization_path, 'n', OLD.campaign_id, OLD.year, OLD.nominee_type, OLD.status, 'none', 'infinity',
                OLD.field, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, field, delta)
        VALUES (NEW.organization_path, 'n', NEW.campaign_id, NEW.year, NEW.nominee_type, NEW.status, 'none', 'infinity',
                NEW.field, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION r.tally_organization() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- A unit that changes kind takes its pledges' counts in the unit-kind facets along: each
    -- group of them out of the old kind and into the new one (the other facets and the plain
    -- tallies net to nothing; so would the unit's own counts, and these deltas carry no unit).
    IF TG_OP = 'UPDATE' AND OLD.kind IS DISTINCT FROM NEW.kind THEN
        INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline,
                                  field, holder_kind, month, title_name, delta)
        SELECT p.organization_path, 'p', p.campaign_id, p.year, p.kind, p.status, coalesce(p.result, 'none'),
               CASE WHEN r.pledge_is_open(p.status) THEN p.deadline ELSE 'infinity'::date END,
               f.field, f.holder_kind, f.month, f.title_name, sum(k.sign)
        FROM pledges AS p
        CROSS JOIN (VALUES (OLD.kind, -1), (NEW.kind, 1)) AS k (holder_kind, sign)
        CROSS JOIN LATERAL r.pledge_facets(k.holder_kind, p.kind, p.field, p.deadline, p.title_name) AS f
        WHERE p.organization_id = NEW.id
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pledges_tally_insert AFTER INSERT ON pledges
    FOR EACH ROW EXECUTE FUNCTION r.tally_pledge();
-- A new title text queues a (net zero) pair of deltas: /stats/titles names a title pledge without
-- a title name by its text, and its kept answers stand while the tally version does.
CREATE TRIGGER pledges_tally_update AFTER UPDATE ON pledges
    FOR EACH ROW WHEN (OLD.organization_path IS DISTINCT FROM NEW.organization_path
        OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.year IS DISTINCT FROM NEW.year
        OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.result IS DISTINCT FROM NEW.result OR OLD.deadline IS DISTINCT FROM NEW.deadline
        OR OLD.organization_id IS DISTINCT FROM NEW.organization_id OR OLD.field IS DISTINCT FROM NEW.field
        OR OLD.title_name IS DISTINCT FROM NEW.title_name OR OLD.title IS DISTINCT FROM NEW.title)
    EXECUTE FUNCTION r.tally_pledge();
CREATE TRIGGER pledges_tally_delete AFTER DELETE ON pledges
    FOR EACH ROW EXECUTE FUNCTION r.tally_pledge();
CREATE TRIGGER nominations_tally_insert AFTER INSERT ON nominations
    FOR EACH ROW EXECUTE FUNCTION r.tally_nomination();
CREATE TRIGGER nominations_tally_update AFTER UPDATE ON nominations
    FOR EACH ROW WHEN (OLD.organization_path IS DISTINCT FROM NEW.organization_path
        OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.year IS DISTINCT FROM NEW.year
        OR OLD.nominee_type IS DISTINCT FROM NEW.nominee_type OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.field IS DISTINCT FROM NEW.field)
    EXECUTE FUNCTION r.tally_nomination();
CREATE TRIGGER nominations_tally_delete AFTER DELETE ON nominations
    FOR EACH ROW EXECUTE FUNCTION r.tally_nomination();
CREATE TRIGGER organizations_tally_insert AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION r.tally_organization();
-- A rename or a move changes what the overview says about a unit: it queues a (net zero)
-- delta too, so the tally version moves.
CREATE TRIGGER organizations_tally_update AFTER UPDATE ON organizations
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path OR OLD.kind IS DISTINCT FROM NEW.kind
        OR OLD.active IS DISTINCT FROM NEW.active OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.parent_id IS DISTINCT FROM NEW.parent_id)
    EXECUTE FUNCTION r.tally_organization();
CREATE TRIGGER organizations_tally_delete AFTER DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION r.tally_organization();

-- Every unit whose subtree counts a row at `in_path`: the prefixes of the path that end at a
-- dot (the unit itself included), where the fold and the rebuild count it. Inlined where it is called.
CREATE FUNCTION r.ancestor_paths(in_path text) RETURNS TABLE (ancestor_path text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(in_path, position)
    FROM generate_series(1, length(in_path)) AS position
    WHERE substr(in_path, position, 1) = '.'
$$;

-- The campaign and year slices that count a row of `entity` in `campaign` and `year`: its
-- campaign and year, its campaign in all years (year 0), all campaigns in its year (the nil
-- campaign), all campaigns in all years; organizations only in the nil campaign and year 0.
CREATE FUNCTION r.tally_slices(in_entity text, in_campaign uuid, in_year integer)
RETURNS TABLE (campaign_id uuid, year integer) LANGUAGE sql IMMUTABLE AS $$
    SELECT s.campaign_id, s.year
    FROM (VALUES (in_campaign, in_year, true),
                 ('00000000-0000-0000-0000-000000000000'::uuid, in_year, in_entity <> 'o'),
                 (in_campaign, 0, in_entity <> 'o'),
                 ('00000000-0000-0000-0000-000000000000'::uuid, 0, in_entity <> 'o'))
         AS s (campaign_id, year, wanted)
    WHERE s.wanted
$$;

-- What a delta of `delta` rows of `entity` with `status` and `result` adds to each sum of
-- subtree_sums (migration 2026-12-07-000600): all its rows, the registered, assessed and
-- achieved pledges, the exemplars among nominations. The fold, the rebuild and the readers of
-- queued deltas (r.subtree_sums) classify with it; the open pledges past their deadline are
-- counted by deadline, not here.
CREATE FUNCTION r.delta_sums(in_entity text, in_status text, in_result text, delta bigint)
RETURNS TABLE (total bigint, registered bigint, assessed bigint, achieved bigint, exemplars bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT delta,
           CASE WHEN in_entity = 'p' AND r.pledge_is_registered(in_status) THEN delta ELSE 0 END,
           CASE WHEN in_entity = 'p' AND in_status = 'assessed' THEN delta ELSE 0 END,
           CASE WHEN in_entity = 'p' AND r.pledge_is_achieved(in_result) THEN delta ELSE 0 END,
           CASE WHEN in_entity = 'n' AND r.nomination_is_exemplar(in_status) THEN delta ELSE 0 END
$$;

-- Moves at most `max_deltas` committed deltas, the oldest by id, into the tallies of every
-- ancestor of their unit (the unit included), in every slice; once a day it then moves the
-- horizon and merges the deadlines that fell behind it. Returns the number of deltas moved:
-- fewer than `max_deltas` means the queue was drained as this snapshot saw it; 0 also when
-- another fold holds the lock.
--
-- Bounded, because one fold of everything pending did not finish under the service's
-- statement timeout after a bulk load of 100 000 pledges, failed, and left an ever larger
-- queue for the next attempt. The caller (src/stats/tallies.rs) calls it again, each call its
-- own transaction, until a call moves fewer than `max_deltas`. Readers stay exact in between:
-- they add every delta still queued, whichever were folded. Each call that moves anything
-- increments `tally_state.generation` in the same transaction, so `r.tally_version()` moves
-- with every partial fold as it did with whole ones.
CREATE FUNCTION r.fold_tallies(max_deltas integer DEFAULT 5000) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    horizon date;
    moved_count bigint;
    changed boolean;
BEGIN
    -- One folder at a time across every instance; the others skip this round.
    IF NOT pg_try_advisory_xact_lock(7246150) THEN
        RETURN 0;
    END IF;

    SELECT collapsed_before INTO horizon FROM tally_state;

    WITH moved AS (
        DELETE FROM tally_deltas
        WHERE id = ANY (ARRAY(SELECT q.id FROM tally_deltas AS q ORDER BY q.id LIMIT max_deltas))
        RETURNING *
    ), expanded AS (
        SELECT a.ancestor_path, m.entity, s.campaign_id,
               s.year, m.kind, m.status, m.result, m.open_deadline, m.delta,
               m.field, m.holder_kind, m.month, m.title_name,
               s.campaign_id = m.campaign_id AND s.year = m.year AS own_slice
        FROM moved AS m
        CROSS JOIN LATERAL r.tally_slices(m.entity, m.campaign_id, m.year) AS s
        CROSS JOIN LATERAL r.ancestor_paths(m.organization_path) AS a
    ), counted AS (
        INSERT INTO tallies AS t (ancestor_path, entity, campaign_id, year, kind, status, result, count)
        SELECT ancestor_path, entity, campaign_id, year, kind, status, result, sum(delta)
        FROM expanded
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(delta) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (ancestor_path, entity, campaign_id, year, kind, status, result)
        DO UPDATE SET count = t.count + excluded.count
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
    ), faceted AS (
        SELECT e.ancestor_path, e.entity, e.campaign_id, e.year, f.facet, f.value, e.status, e.result,
               e.open_deadline, e.delta
        FROM expanded AS e
        CROSS JOIN LATERAL r.delta_facets(e.field, e.holder_kind, e.month, e.title_name) AS f
        WHERE e.own_slice
    ), facet_counted AS (
        INSERT INTO facet_tallies AS t (ancestor_path, entity, campaign_id, year, facet, value, status, result, count)
        SELECT ancestor_path, entity, campaign_id, year, facet, value, status, result, sum(delta)
        FROM faceted
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(delta) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT (ancestor_path, entity, facet, campaign_id, year, value, status, result)
        DO UPDATE SET count = t.count + excluded.count
    ), facet_dated AS (
        INSERT INTO facet_deadline_tallies AS t (ancestor_path, campaign_id, year, facet, deadline, value, count)
        SELECT ancestor_path, campaign_id, year, facet,
               CASE WHEN open_deadline < horizon THEN '-infinity'::date ELSE open_deadline END,
               value, sum(delta)
        FROM faceted
        WHERE entity = 'p' AND open_deadline <> 'infinity'
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(delta) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (ancestor_path, facet, campaign_id, year, deadline, value)
        DO UPDATE SET count = t.count + excluded.count
    ), unit_counted AS (
        INSERT INTO unit_tallies AS t (organization_id, campaign_id, year, registered)
        SELECT m.organization_id, s.campaign_id, s.year, sum(m.delta)
        FROM moved AS m
        CROSS JOIN LATERAL r.tally_slices(m.entity, m.campaign_id, m.year) AS s
        WHERE m.entity = 'p' AND m.organization_id IS NOT NULL AND r.pledge_is_registered(m.status)
        GROUP BY 1, 2, 3
        HAVING sum(m.delta) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (organization_id, campaign_id, year)
        DO UPDATE SET registered = t.registered + excluded.registered
    ), summed AS (
        INSERT INTO subtree_sums AS t (ancestor_path, campaign_id, year, entity, total, registered, assessed,
                                       achieved, exemplars, overdue)
        SELECT s.*
        FROM (SELECT e.ancestor_path, e.campaign_id, e.year, e.entity, sum(x.total) AS total,
                     sum(x.registered) AS registered, sum(x.assessed) AS assessed,
                     sum(x.achieved) AS achieved, sum(x.exemplars) AS exemplars,
                     sum(CASE WHEN e.open_deadline < horizon THEN e.delta ELSE 0 END) AS overdue
              FROM expanded AS e
              CROSS JOIN LATERAL r.delta_sums(e.entity, e.status, e.result, e.delta) AS x
              WHERE e.entity <> 'o'
              GROUP BY 1, 2, 3, 4) AS s
        -- A status change nets to nothing in `total` but moves the others.
        WHERE (s.total, s.registered, s.assessed, s.achieved, s.exemplars, s.overdue) <> (0, 0, 0, 0, 0, 0)
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (ancestor_path, campaign_id, year, entity)
        DO UPDATE SET total = t.total + excluded.total, registered = t.registered + excluded.registered,
                      assessed = t.assessed + excluded.assessed, achieved = t.achieved + excluded.achieved,
                      exemplars = t.exemplars + excluded.exemplars, overdue = t.overdue + excluded.overdue
    )
    -- Data-modifying CTEs always run to completion, read or not.
    SELECT count(*) INTO moved_count FROM moved;
    changed := moved_count > 0;

    -- Once a day: the deadlines that fell behind the new horizon join the -infinity rows.
    IF horizon < current_date - 2 THEN
        horizon := current_date - 2;
        WITH passed AS (
            DELETE FROM deadline_tallies
            WHERE deadline > '-infinity' AND deadline < horizon
            RETURNING *
        ), merged AS (
            INSERT INTO deadline_tallies AS t (ancestor_path, campaign_id, year, deadline, kind, status, result, count)
            SELECT ancestor_path, campaign_id, year, '-infinity'::date, kind, status, result, sum(count)
            FROM passed
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            ORDER BY 1, 2, 3, 4, 5, 6, 7
            ON CONFLICT (ancestor_path, campaign_id, year, deadline, kind, status, result)
            DO UPDATE SET count = t.count + excluded.count
        )
        -- The sums' overdue pledges are those of the '-infinity' rows: these join them. Their
        -- rows exist (the pledges are counted in `total`).
        UPDATE subtree_sums AS t SET overdue = t.overdue + p.count
        FROM (SELECT ancestor_path, campaign_id, year, sum(count) AS count
              FROM passed GROUP BY 1, 2, 3) AS p
        WHERE t.ancestor_path = p.ancestor_path AND t.campaign_id = p.campaign_id AND t.year = p.year
          AND t.entity = 'p';
        WITH passed AS (
            DELETE FROM facet_deadline_tallies
            WHERE deadline > '-infinity' AND deadline < horizon
            RETURNING *
        )
        INSERT INTO facet_deadline_tallies AS t (ancestor_path, campaign_id, year, facet, deadline, value, count)
        SELECT ancestor_path, campaign_id, year, facet, '-infinity'::date, value, sum(count)
        FROM passed
        GROUP BY 1, 2, 3, 4, 6
        ORDER BY 1, 2, 3, 4, 6
        ON CONFLICT (ancestor_path, facet, campaign_id, year, deadline, value)
        DO UPDATE SET count = t.count + excluded.count;
        UPDATE tally_state SET collapsed_before = horizon;
        changed := true;
    END IF;
    IF changed THEN
        UPDATE tally_state SET generation = generation + 1;
    END IF;

    -- Keys nobody holds any more (the indexes are partial: only such rows).
    DELETE FROM tallies WHERE count = 0;
    DELETE FROM deadline_tallies WHERE count = 0;
    DELETE FROM facet_tallies WHERE count = 0;
    DELETE FROM facet_deadline_tallies WHERE count = 0;
    DELETE FROM unit_tallies WHERE registered = 0;
    DELETE FROM subtree_sums WHERE total = 0;
    RETURN moved_count;
END
$$;

-- Recomputes every tally from the rows themselves, in bulk, and empties the queue of deltas:
-- what folding every delta ever queued would give, with the horizon moved to today's. Returns
-- the number of tally rows written.
--
-- For `thidua rebuild-tallies` (a repair, should the tallies ever disagree with the rows) and
-- for `thidua generate`, which loads its millions of rows without the row triggers: a fold
-- upserts into large tables key by key (about 4 000 deltas a second at 1M pledges), while
-- here each table is one aggregate over the rows, first per unit (a unit's thousand pledges
-- collapse into a few dozen keys) and only then expanded to the ancestors and slices.
-- Writers of the counted tables wait for the end (SHARE locks), and so does a running fold
-- (its advisory lock); readers wait on the emptied tables until the commit.
-- tests/api/folds.rs checks that it writes exactly what the fold wrote.
CREATE FUNCTION r.rebuild_tallies() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    horizon date := r.rebuild_start();
BEGIN
    RETURN r.rebuild_tally_part('plain', horizon) + r.rebuild_tally_part('facets', horizon)
        + r.rebuild_award_tallies();
END
$$;

-- The first step of a rebuild: waits for a running fold, empties the queue of deltas (the rows
-- they describe are counted by the rebuild) and moves the horizon to today's; returns it.
-- `thidua generate`, the only writer of its database while it runs, commits this alone and then
-- runs the two parts side by side on two connections (and beside its index builds).
CREATE FUNCTION r.rebuild_start() RETURNS date LANGUAGE plpgsql AS $$
DECLARE
    horizon date;
BEGIN
    PERFORM pg_advisory_xact_lock(7246150);
    LOCK TABLE organizations, pledges, nominations IN SHARE MODE;
    TRUNCATE tally_deltas;
    UPDATE tally_state SET collapsed_before = greatest(collapsed_before, current_date - 2),
                           generation = generation + 1
    RETURNING collapsed_before INTO horizon;
    RETURN horizon;
END
$$;

-- One part of a rebuild with the horizon `horizon` (from r.rebuild_start): 'plain' refills
-- tallies, deadline_tallies, unit_tallies and subtree_sums, 'facets' refills facet_tallies and
-- facet_deadline_tallies.
-- The parts share no table, so two connections may run them at once; each moves the generation
-- when it commits, so no answer cached while it ran outlives it. Returns the rows written.
CREATE FUNCTION r.rebuild_tally_part(part text, horizon date) RETURNS bigint LANGUAGE plpgsql
-- Each aggregate hashes its groups in memory (2.3M tally rows at 1M pledges; with the default
-- 4 MB a sort spilled 780 MB to disk and took twice as long).
SET work_mem = '1GB' AS $$
DECLARE
    written bigint := 0;
    rows_now bigint;
BEGIN
    LOCK TABLE organizations, pledges, nominations IN SHARE MODE;
    IF part = 'plain' THEN
        TRUNCATE tallies, deadline_tallies, unit_tallies, subtree_sums;
        -- Every row counted under each ancestor in its own campaign and year (deadline:
        -- 'infinity' unless an open pledge's, merged behind the horizon), then the other
        -- slices summed from these, which are fewer than the rows (a unit's pledges share a
        -- few dozen keys).
        CREATE TEMPORARY TABLE rebuilt_own ON COMMIT DROP AS
        SELECT a.ancestor_path, u.entity, u.campaign_id, u.year, u.kind, u.status, u.result, u.deadline,
               sum(u.count) AS count
        FROM (
            SELECT p.organization_path AS path, 'p'::text AS entity, p.campaign_id, p.year, p.kind, p.status,
                   coalesce(p.result, 'none') AS result,
                   CASE WHEN NOT r.pledge_is_open(p.status) THEN 'infinity'::date
                        WHEN p.deadline < horizon THEN '-infinity'::date ELSE p.deadline END AS deadline,
                   count(*) AS count
            FROM pledges AS p
            GROUP BY 1, 3, 4, 5, 6, 7, 8
            UNION ALL
            SELECT n.organization_path, 'n', n.campaign_id, n.year, n.nominee_type, n.status, 'none',
                   'infinity'::date, count(*)
            FROM nominations AS n
            GROUP BY 1, 3, 4, 5, 6
            UNION ALL
            SELECT o.path, 'o', '00000000-0000-0000-0000-000000000000', 0, o.kind,
                   CASE WHEN o.active THEN 'active' ELSE 'inactive' END, 'none', 'infinity'::date, count(*)
            FROM organizations AS o
            GROUP BY 1, 5, 6
        ) AS u
        CROSS JOIN LATERAL r.ancestor_paths(u.path) AS a
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

        INSERT INTO tallies (ancestor_path, entity, campaign_id, year, kind, status, result, count)
        SELECT o.ancestor_path, o.entity, s.campaign_id, s.year, o.kind, o.status, o.result, sum(o.count)
        FROM rebuilt_own AS o
        CROSS JOIN LATERAL r.tally_slices(o.entity, o.campaign_id, o.year) AS s
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        ORDER BY 1, 2, 3, 4, 5, 6, 7; -- the primary key's order: each index page filled once
        GET DIAGNOSTICS rows_now = ROW_COUNT;
        written := written + rows_now;

        INSERT INTO deadline_tallies (ancestor_path, campaign_id, year, deadline, kind, status, result, count)
        SELECT o.ancestor_path, s.campaign_id, s.year, o.deadline, o.kind, o.status, o.result, sum(o.count)
        FROM rebuilt_own AS o
        CROSS JOIN LATERAL r.tally_slices(o.entity, o.campaign_id, o.year) AS s
        WHERE o.entity = 'p' AND o.deadline <> 'infinity'
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        ORDER BY 1, 2, 3, 4, 5, 6, 7;
        GET DIAGNOSTICS rows_now = ROW_COUNT;
        written := written + rows_now;

        -- The subtrees' sums; overdue: the open pledges behind the horizon ('-infinity').
        INSERT INTO subtree_sums (ancestor_path, campaign_id, year, entity, total, registered, assessed,
                                  achieved, exemplars, overdue)
        SELECT o.ancestor_path, s.campaign_id, s.year, o.entity, sum(x.total), sum(x.registered),
               sum(x.assessed), sum(x.achieved), sum(x.exemplars),
               sum(CASE WHEN o.deadline = '-infinity' THEN o.count ELSE 0 END)
        FROM rebuilt_own AS o
        CROSS JOIN LATERAL r.tally_slices(o.entity, o.campaign_id, o.year) AS s
        CROSS JOIN LATERAL r.delta_sums(o.entity, o.status, o.result, o.count::bigint) AS x
        WHERE o.entity <> 'o'
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4;
        GET DIAGNOSTICS rows_now = ROW_COUNT;
        written := written + rows_now;
        DROP TABLE rebuilt_own;

        -- Each unit's own registered pledges, by unit id, in every slice.
        INSERT INTO unit_tallies (organization_id, campaign_id, year, registered)
        SELECT u.organization_id, s.campaign_id, s.year, sum(u.registered)
        FROM (SELECT p.organization_id, p.campaign_id, p.year, count(*) AS registered
              FROM pledges AS p WHERE r.pledge_is_registered(p.status)
              GROUP BY 1, 2, 3) AS u
        CROSS JOIN LATERAL r.tally_slices('p', u.campaign_id, u.year) AS s
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3;
        GET DIAGNOSTICS rows_now = ROW_COUNT;
        written := written + rows_now;
    ELSIF part = 'facets' THEN
        TRUNCATE facet_tallies, facet_deadline_tallies;
        -- Facets count in the row's own campaign and year only, as the fold writes them; each
        -- pledge is read once for both facet tables.
        CREATE TEMPORARY TABLE rebuilt_facets ON COMMIT DROP AS
        SELECT a.ancestor_path, u.entity, u.campaign_id, u.year, u.facet, u.value, u.status, u.result, u.deadline,
               sum(u.count) AS count
        FROM (
            SELECT p.organization_path AS path, 'p'::text AS entity, p.campaign_id, p.year, d.facet, d.value,
                   p.status, coalesce(p.result, 'none') AS result,
                   CASE WHEN NOT r.pledge_is_open(p.status) THEN 'infinity'::date
                        WHEN p.deadline < horizon THEN '-infinity'::date ELSE p.deadline END AS deadline,
                   count(*) AS count
            FROM pledges AS p
            LEFT JOIN organizations AS o ON o.id = p.organization_id
            CROSS JOIN LATERAL r.pledge_facets(o.kind, p.kind, p.field, p.deadline, p.title_name) AS f
            CROSS JOIN LATERAL r.delta_facets(f.field, f.holder_kind, f.month, f.title_name) AS d
            GROUP BY 1, 3, 4, 5, 6, 7, 8, 9
            UNION ALL
            SELECT n.organization_path, 'n', n.campaign_id, n.year, d.facet, d.value, n.status, 'none',
                   'infinity'::date, count(*)
            FROM nominations AS n
            CROSS JOIN LATERAL r.delta_facets(n.field, NULL, NULL, NULL) AS d
            GROUP BY 1, 3, 4, 5, 6, 7
        ) AS u
        CROSS JOIN LATERAL r.ancestor_paths(u.path) AS a
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

        INSERT INTO facet_tallies (ancestor_path, entity, campaign_id, year, facet, value, status, result, count)
        SELECT ancestor_path, entity, campaign_id, year, facet, value, status, result, sum(count)
        FROM rebuilt_facets
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ORDER BY 1, 2, 5, 3, 4, 6, 7, 8;
        GET DIAGNOSTICS rows_now = ROW_COUNT;
        written := written + rows_now;

        INSERT INTO facet_deadline_tallies (ancestor_path, campaign_id, year, facet, deadline, value, count)
        SELECT ancestor_path, campaign_id, year, facet, deadline, value, sum(count)
        FROM rebuilt_facets
        WHERE entity = 'p' AND deadline <> 'infinity'
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 1, 4, 2, 3, 5, 6;
        GET DIAGNOSTICS rows_now = ROW_COUNT;
        written := written + rows_now;
        DROP TABLE rebuilt_facets;
    ELSE
        RAISE EXCEPTION 'unknown tally part %', part;
    END IF;
    UPDATE tally_state SET generation = generation + 1;
    RETURN written;
END
$$;

-- Award tallies (table from migration 2026-12-07-000400): per ancestor of the award's unit,
-- year, title and subject type, the awards in force with their rewards and the revoked ones with
-- what they recover, for /stats/awards (awards::repo::award_stats). Kept in the writer's
-- transaction by the statement triggers below, each statement's changes summed into one
-- upsert in key order (so two writers lock shared ancestors in the same order). A revocation,
-- a restructuring's move and a decision's awards each cost one statement, whatever their rows.
-- Unlike the records' tallies there is no queue: awards are written a decision at a time, and
-- a decision already serializes its issuer's year (awards::repo::lock_issuer_year); two
-- issuers' decisions queue only on the rows of their common ancestors, until the first commits.
-- `added` and `removed` are the rows as they are after and were before the statement, as JSON
-- arrays: a parameter of the table's row type would make `r` a dependency of `awards`, and a
-- migration could no longer drop or revert the table.
CREATE FUNCTION r.count_awards(added jsonb, removed jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO award_tallies AS t (ancestor_path, year, title_code, subject_type, awards, reward_total,
                                    revoked, recovery_total)
    SELECT g.*
    FROM (SELECT a.ancestor_path, c.year, c.title_code, c.subject_type,
                 coalesce(sum(c.sign) FILTER (WHERE c.revoked_at IS NULL), 0) AS awards,
                 coalesce(sum(c.sign * c.reward_amount) FILTER (WHERE c.revoked_at IS NULL), 0) AS reward_total,
                 coalesce(sum(c.sign) FILTER (WHERE c.revoked_at IS NOT NULL), 0) AS revoked,
                 coalesce(sum(c.sign * c.recovery_amount) FILTER (WHERE c.revoked_at IS NOT NULL), 0)
                     AS recovery_total
          FROM (SELECT x.organization_path, x.year, x.title_code,
                       CASE WHEN x.person_id IS NULL THEN 'organization' ELSE 'person' END AS subject_type,
                       x.revoked_at, x.reward_amount, x.recovery_amount, 1 AS sign
                FROM jsonb_to_recordset(added) AS x (organization_path text, year integer, title_code text,
                    person_id uuid, revoked_at timestamptz, reward_amount bigint, recovery_amount bigint)
                UNION ALL
                SELECT x.organization_path, x.year, x.title_code,
                       CASE WHEN x.person_id IS NULL THEN 'organization' ELSE 'person' END,
                       x.revoked_at, x.reward_amount, x.recovery_amount, -1
                FROM jsonb_to_recordset(removed) AS x (organization_path text, year integer, title_code text,
                    person_id uuid, revoked_at timestamptz, reward_amount bigint, recovery_amount bigint)) AS c
          CROSS JOIN LATERAL r.ancestor_paths(c.organization_path) AS a
          GROUP BY 1, 2, 3, 4) AS g
    -- A row updated without changing what counts (a note, a link) nets to nothing.
    WHERE g.awards <> 0 OR g.reward_total <> 0 OR g.revoked <> 0 OR g.recovery_total <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (ancestor_path, year, title_code, subject_type) DO UPDATE
    SET awards = t.awards + EXCLUDED.awards,
        reward_total = t.reward_total + EXCLUDED.reward_total,
        revoked = t.revoked + EXCLUDED.revoked,
        recovery_total = t.recovery_total + EXCLUDED.recovery_total
$$;

-- One trigger per event: a trigger with transition tables serves one event only.
--
-- The award tallies take no deltas, but kept answers read them (/stats/awards, kept under
-- r.kept_version()): each statement also queues one delta that counts nothing, entity 'a', so
-- that r.tally_version() moves with it in the writer's transaction, as with any delta. Its
-- empty path lies in no subtree's range and has no ancestor, and it has no unit: every reader
-- of the queue and the fold pass over it, and the fold deletes it like any other.
CREATE FUNCTION r.tally_awards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM r.count_awards((SELECT jsonb_agg(n) FROM added_rows AS n), NULL);
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM r.count_awards((SELECT jsonb_agg(n) FROM added_rows AS n),
                               (SELECT jsonb_agg(o) FROM removed_rows AS o));
    ELSE
        PERFORM r.count_awards(NULL, (SELECT jsonb_agg(o) FROM removed_rows AS o));
    END IF;
    INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result,
                              open_deadline, delta)
    VALUES ('', 'a', '00000000-0000-0000-0000-000000000000', 0, '', '', '', 'infinity', 0);
    RETURN NULL;
END $$;
CREATE TRIGGER awards_tally_insert AFTER INSERT ON awards REFERENCING NEW TABLE AS added_rows
    FOR EACH STATEMENT EXECUTE FUNCTION r.tally_awards();
CREATE TRIGGER awards_tally_update AFTER UPDATE ON awards
    REFERENCING OLD TABLE AS removed_rows NEW TABLE AS added_rows
    FOR EACH STATEMENT EXECUTE FUNCTION r.tally_awards();
CREATE TRIGGER awards_tally_delete AFTER DELETE ON awards REFERENCING OLD TABLE AS removed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION r.tally_awards();

-- Recounts the award tallies from the awards (`thidua rebuild-tallies` through
-- r.rebuild_tallies, and `thidua generate`, which loads awards without triggers); returns the
-- rows written. Writers of awards wait for the end.
CREATE FUNCTION r.rebuild_award_tallies() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    LOCK TABLE awards IN SHARE MODE;
    TRUNCATE award_tallies;
    INSERT INTO award_tallies (ancestor_path, year, title_code, subject_type, awards, reward_total,
                               revoked, recovery_total)
    SELECT a.ancestor_path, u.year, u.title_code, u.subject_type, sum(u.awards), sum(u.reward_total),
           sum(u.revoked), sum(u.recovery_total)
    FROM (SELECT x.organization_path, x.year, x.title_code,
                 CASE WHEN x.person_id IS NULL THEN 'organization' ELSE 'person' END AS subject_type,
                 count(*) FILTER (WHERE x.revoked_at IS NULL) AS awards,
                 coalesce(sum(x.reward_amount) FILTER (WHERE x.revoked_at IS NULL), 0) AS reward_total,
                 count(*) FILTER (WHERE x.revoked_at IS NOT NULL) AS revoked,
                 coalesce(sum(x.recovery_amount) FILTER (WHERE x.revoked_at IS NOT NULL), 0) AS recovery_total
          FROM awards AS x
          GROUP BY 1, 2, 3, 4) AS u
    CROSS JOIN LATERAL r.ancestor_paths(u.organization_path) AS a
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- The version of everything the tallies say, as seen by the current snapshot: it changes
-- whenever any count, any unit's name, place or state, any pending delta or any award (its
-- statement queues a delta that counts nothing, r.tally_awards) changes. Answers
-- computed from the tallies can be kept under it and reused while it stays the same.
-- Why it is exact: `generation` moves in the transaction of every fold that deleted deltas
-- (whole or partial) or merged deadlines; between two such folds the deltas table only grows
-- (triggers insert, nothing else deletes), and every snapshot sees a prefix of the commits, so
-- (generation, number of visible deltas) names one state of every count.
-- PL/pgSQL: its query is planned once per connection (an SQL function with subqueries is not
-- inlined, and would be planned on every call).
CREATE FUNCTION r.tally_version() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT s.generation || '.' || (SELECT count(*) FROM tally_deltas) FROM tally_state AS s);
END
$$;

-- What a kept answer depends on (stats::history::kept_version): the tallies' version and the
-- number of restructurings applied (lineage, placements and validity change only through
-- them), prefixed 'h:' (history::KEPT_PREFIX) so that it never equals a bare tally version.
-- PL/pgSQL, so each connection plans it once: every kept answer reads it.
CREATE FUNCTION r.kept_version() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN 'h:' || r.tally_version() || '/' || (SELECT count(*) FROM restructurings);
END
$$;

-- What readers ask. A subtree is the range [root, upper) of paths (upper: the root's path with
-- its last '.' turned into '/'). A NULL campaign or year means all of them: the nil campaign
-- and year 0 slices.

-- Every count of the subtree `root` in the window, by entity and key, with the overdue ones
-- among them; keys may repeat (a tally, its overdue row, its pending deltas): the caller adds
-- them up. A single SELECT in SQL, so the planner inlines it into the query that calls it;
-- called from outside a function, it would be planned on every call (see r.subtree_tally).
CREATE FUNCTION r.subtree_tally_rows(root text, upper text, in_campaign uuid, in_year integer, today date)
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

-- The registered pledges (submitted, approved, assessed) of each of `units` itself, in the
-- window, for /stats/coverage (stats::repo::coverage_page): the unit's tally row of the slice
-- plus its queued deltas, one row per unit (0 when it has none), whatever the number of its
-- pledges. By unit id, not path: a unit's pledges of the years before a restructuring keep the
-- path they had then. PL/pgSQL with the generic plan: planned once per connection.
CREATE FUNCTION r.unit_tally(units uuid[], in_campaign uuid, in_year integer)
RETURNS TABLE (organization_id uuid, registered bigint) LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT u.id, coalesce(t.registered, 0) + coalesce(d.registered, 0)
    FROM unnest(units) AS u (id)
    LEFT JOIN unit_tallies AS t
        ON t.organization_id = u.id
       AND t.campaign_id = coalesce(in_campaign, '00000000-0000-0000-0000-000000000000')
       AND t.year = coalesce(in_year, 0)
    LEFT JOIN (SELECT q.organization_id AS id, sum(q.delta)::bigint AS registered
               FROM tally_deltas AS q
               WHERE q.organization_id = ANY (units) AND q.entity = 'p' AND r.pledge_is_registered(q.status)
                 AND (in_campaign IS NULL OR q.campaign_id = in_campaign)
                 AND (in_year IS NULL OR q.year = in_year)
               GROUP BY q.organization_id) AS d
        ON d.id = u.id;
END
$$;

-- r.subtree_tally_rows for the service: PL/pgSQL with the generic plan, so each connection
-- plans it once (planning the inlined query cost ~0.35 ms per call, more than running it).
CREATE FUNCTION r.subtree_tally(root text, upper text, in_campaign uuid, in_year integer, today date)
RETURNS TABLE (entity text, kind text, status text, result text, count bigint, overdue bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT * FROM r.subtree_tally_rows(root, upper, in_campaign, in_year, today);
END
$$;

-- The sums of several subtrees in the window, one row per key and entity ('p', 'n'): `keys`
-- and `paths` pair up, and subtrees sharing a key add up (a past year's child and the ended
-- units it answers for). For the per-child answers (group_by=child, the leaderboard): each
-- subtree's sum row, the open pledges whose deadline passed since the horizon, and its queued
-- deltas; a few rows a subtree, whatever its size. PL/pgSQL with the generic plan, so each
-- connection plans it once.
CREATE FUNCTION r.subtree_sums(keys text[], paths text[], in_campaign uuid, in_year integer, today date)
RETURNS TABLE (key text, entity text, total bigint, registered bigint, assessed bigint, achieved bigint,
               exemplars bigint, overdue bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT s.key, x.entity, sum(x.total)::bigint, sum(x.registered)::bigint, sum(x.assessed)::bigint,
           sum(x.achieved)::bigint, sum(x.exemplars)::bigint, sum(x.overdue)::bigint
    FROM unnest(keys, paths) AS s (key, path)
    CROSS JOIN LATERAL (
        SELECT t.entity, t.total, t.registered, t.assessed, t.achieved, t.exemplars, t.overdue
        FROM subtree_sums AS t
        WHERE t.ancestor_path = s.path
          AND t.campaign_id = coalesce(in_campaign, '00000000-0000-0000-0000-000000000000')
          AND t.year = coalesce(in_year, 0)
        UNION ALL
        SELECT 'p', 0, 0, 0, 0, 0, t.count
        FROM deadline_tallies AS t
        WHERE t.ancestor_path = s.path
          AND t.campaign_id = coalesce(in_campaign, '00000000-0000-0000-0000-000000000000')
          AND t.year = coalesce(in_year, 0)
          AND t.deadline > '-infinity' AND t.deadline < today
        UNION ALL
        SELECT d.entity, y.total, y.registered, y.assessed, y.achieved, y.exemplars,
               CASE WHEN d.open_deadline < today THEN d.delta ELSE 0 END
        FROM tally_deltas AS d
        CROSS JOIN LATERAL r.delta_sums(d.entity, d.status, d.result, d.delta) AS y
        WHERE d.organization_path >= s.path AND d.organization_path < left(s.path, -1) || '/'
          AND d.entity IN ('p', 'n')
          AND (in_campaign IS NULL OR d.campaign_id = in_campaign)
          AND (in_year IS NULL OR d.year = in_year)
    ) AS x
    GROUP BY s.key, x.entity;
END
$$;

-- The counts of the subtree `root` in the window by facet value, for the facets `in_facets` of
-- `in_entity` ('p' or 'n'), with the overdue pledges among them; keys may repeat (a tally, its
-- overdue row, its pending deltas, other campaigns and years when the window names none): the
-- caller adds them up. The overdue rows carry their count in `overdue` only (status and result
-- '', count 0). PL/pgSQL with the generic plan, so each connection plans it once.
CREATE FUNCTION r.facet_tally(root text, upper text, in_entity text, in_facets text[], in_campaign uuid,
                              in_year integer, today date)
RETURNS TABLE (facet text, value text, status text, result text, count bigint, overdue bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT t.facet, t.value, t.status, t.result, t.count, 0::bigint
    FROM facet_tallies AS t
    WHERE t.ancestor_path = root AND t.entity = in_entity AND t.facet = ANY (in_facets)
      AND (in_campaign IS NULL OR t.campaign_id = in_campaign)
      AND (in_year IS NULL OR t.year = in_year)
    UNION ALL
    SELECT t.facet, t.value, ''::text, ''::text, 0::bigint, t.count
    FROM facet_deadline_tallies AS t
    WHERE in_entity = 'p' AND t.ancestor_path = root AND t.facet = ANY (in_facets)
      AND (in_campaign IS NULL OR t.campaign_id = in_campaign)
      AND (in_year IS NULL OR t.year = in_year)
      AND t.deadline < today
    UNION ALL
    SELECT f.facet, f.value, d.status, d.result, d.delta,
           CASE WHEN d.open_deadline < today THEN d.delta ELSE 0 END
    FROM tally_deltas AS d
    CROSS JOIN LATERAL r.delta_facets(d.field, d.holder_kind, d.month, d.title_name) AS f
    WHERE d.organization_path >= root AND d.organization_path < upper AND d.entity = in_entity
      AND (in_campaign IS NULL OR d.campaign_id = in_campaign)
      AND (in_year IS NULL OR d.year = in_year)
      AND f.facet = ANY (in_facets);
END
$$;

-- The overview of the unit `root_id` as JSON text, or NULL when no such unit exists or none of
-- the subtrees `visible` holds it (NULL: every unit is visible):
--   {"version", "path", "name",
--    "counts": [[entity, kind, status, result, count, overdue], …],
--    "children": [[id, name, active, registered, overdue], …]}   (children in name order)
-- `registered`: the child has a registered pledge of its own in the window; `overdue`: open
-- pledges past their deadline in the child's whole subtree.
-- When `known_version` is the current `r.tally_version()`, nothing is computed nor checked:
-- the answer is {"version", "unchanged": true}, and the caller reuses the overview it computed
-- under that version (it checks visibility against the path that overview came with).
-- PL/pgSQL, so each connection plans it once, and always with the generic plan: the custom
-- plans PostgreSQL would otherwise keep choosing cost a planning per call (+50% in all) and
-- are no better. One statement computes the answer; STABLE, so the version and the answer
-- come from the caller's one snapshot.
CREATE FUNCTION r.overview_of(root_id uuid, visible text[], in_campaign uuid, in_year integer, today date,
                              known_version text)
RETURNS text LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    root_path text;
    root_name text;
    version text := r.tally_version();
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
                  FROM r.subtree_tally_rows(root_path, left(root_path, -1) || '/', in_campaign, in_year, today) AS x
                  GROUP BY 1, 2, 3, 4) AS s),
        'children', (
            SELECT coalesce(json_agg(json_build_array(c.id, c.name, c.active, c.registered, c.overdue)
                                     ORDER BY c.name COLLATE "vi-x-icu", c.id), '[]')
            FROM (SELECT c.id, c.name, c.active,
                         -- Its own registered pledges: one unit tally row a child.
                         coalesce(u.registered, 0) > 0 AS registered,
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
                  LEFT JOIN r.unit_tally(ARRAY(SELECT o.id FROM organizations AS o WHERE o.parent_id = root_id),
                                         in_campaign, in_year) AS u
                    ON u.organization_id = c.id
                  WHERE c.parent_id = root_id) AS c))::text;
END
$$;

-- The change feed (GET /changes; tables of migration 2026-12-06-000200; docs/design.md § The
-- change feed). Every write to a fed table appends one row to `change_events` from a row
-- trigger, inside the writing transaction: the event commits or rolls back with the change,
-- and a writer only inserts (no shared row, `id` from a sequence). Updates that change
-- nothing do not call the function.
--
-- Each event carries the path of its unit now (`path`; NULL for reference data every caller
-- may read) and, when the row changed unit (a move, a restructuring carrying work to a
-- successor), the path before (`old_path`): a caller who saw it there and not here gets a
-- tombstone. Restructurings carry the paths they touched instead.
CREATE FUNCTION r.feed_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rec record;
    entity text;
    ident text;
    ver integer;
    unit uuid;
    old_unit uuid;
    unit_path text;
    prior_path text;
    touched text[];
    act text := CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'DELETE' THEN 'deleted' ELSE 'updated' END;
BEGIN
    IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
    CASE TG_TABLE_NAME
    WHEN 'pledges' THEN
        entity := 'pledge'; ident := rec.id::text; ver := rec.version;
        unit := rec.organization_id; unit_path := rec.organization_path;
        IF TG_OP = 'UPDATE' THEN
            IF OLD.organization_path IS DISTINCT FROM NEW.organization_path THEN
                act := 'moved'; prior_path := OLD.organization_path;
            ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
                act := 'transitioned';
            END IF;
        END IF;
    WHEN 'nominations' THEN
        entity := 'nomination'; ident := rec.id::text; ver := rec.version;
        unit := rec.nominating_organization_id; unit_path := rec.organization_path;
        IF TG_OP = 'UPDATE' THEN
            IF OLD.organization_path IS DISTINCT FROM NEW.organization_path THEN
                act := 'moved'; prior_path := OLD.organization_path;
            ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
                act := 'transitioned';
            END IF;
        END IF;
    WHEN 'pledge_progress' THEN
        entity := 'pledge_progress'; ident := rec.id::text;
        SELECT p.organization_id, p.organization_path INTO unit, unit_path
        FROM pledges AS p WHERE p.id = rec.pledge_id;
    WHEN 'nomination_reviews' THEN
        entity := 'nomination_review'; ident := rec.id::text;
        SELECT n.nominating_organization_id, n.organization_path INTO unit, unit_path
        FROM nominations AS n WHERE n.id = rec.nomination_id;
    WHEN 'organizations' THEN
        entity := 'organization'; ident := rec.id::text; ver := rec.version;
        unit := rec.id; unit_path := rec.path;
        IF TG_OP = 'UPDATE' AND OLD.path IS DISTINCT FROM NEW.path THEN
            act := 'moved'; prior_path := OLD.path;
        END IF;
    WHEN 'restructurings' THEN
        entity := 'restructuring'; ident := rec.id::text;
        touched := ARRAY(SELECT t FROM unnest(rec.touched_paths) AS t WHERE t IS NOT NULL);
    WHEN 'persons' THEN
        entity := 'person'; ident := rec.id::text; ver := rec.version;
        unit := rec.organization_id; unit_path := rec.organization_path;
        IF TG_OP = 'UPDATE' AND OLD.organization_path IS DISTINCT FROM NEW.organization_path THEN
            act := 'moved'; prior_path := OLD.organization_path;
        END IF;
    WHEN 'year_records' THEN
        entity := 'year_record'; ident := rec.subject_id::text || ':' || rec.year::text;
        ver := rec.version;
        unit := coalesce(rec.organization_id, (SELECT p.organization_id FROM persons AS p WHERE p.id = rec.person_id));
    WHEN 'title_registrations' THEN
        entity := 'title_registration'; ident := rec.id::text;
        unit := coalesce(rec.organization_id, (SELECT p.organization_id FROM persons AS p WHERE p.id = rec.person_id));
    WHEN 'rule_sets' THEN
        entity := 'rule_set'; ident := rec.id::text;
    WHEN 'base_salaries' THEN
        entity := 'base_salary'; ident := rec.effective_from::text;
    WHEN 'council_sessions' THEN
        entity := 'council_session'; ident := rec.id::text; unit := rec.organization_id;
    WHEN 'ballots' THEN
        entity := 'ballot'; ident := rec.id::text;
        unit := (SELECT s.organization_id FROM council_sessions AS s WHERE s.id = rec.session_id);
    WHEN 'award_decisions' THEN
        entity := 'award_decision'; ident := rec.id::text; unit := rec.issuer_organization_id;
    WHEN 'awards' THEN
        entity := 'award'; ident := rec.id::text;
        unit := coalesce(rec.organization_id, (SELECT p.organization_id FROM persons AS p WHERE p.id = rec.person_id));
        IF TG_OP = 'UPDATE' AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
            act := 'transitioned';
        END IF;
    END CASE;
    IF unit_path IS NULL AND unit IS NOT NULL THEN
        SELECT o.path INTO unit_path FROM organizations AS o WHERE o.id = unit;
    END IF;
    IF old_unit IS NOT NULL THEN
        SELECT o.path INTO prior_path FROM organizations AS o WHERE o.id = old_unit;
    END IF;
    INSERT INTO change_events (entity_type, entity_id, action, version, organization_id, path, old_path, touched_paths)
    VALUES (entity, ident, act, ver, unit, unit_path, prior_path, touched);
    RETURN NULL;
END
$$;

CREATE TRIGGER pledges_feed AFTER INSERT OR DELETE ON pledges
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER pledges_feed_update AFTER UPDATE ON pledges
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER pledge_progress_feed AFTER INSERT ON pledge_progress
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER nominations_feed AFTER INSERT OR DELETE ON nominations
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER nominations_feed_update AFTER UPDATE ON nominations
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER nomination_reviews_feed AFTER INSERT ON nomination_reviews
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER organizations_feed AFTER INSERT OR DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER organizations_feed_update AFTER UPDATE ON organizations
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER restructurings_feed AFTER INSERT OR UPDATE OR DELETE ON restructurings
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER persons_feed AFTER INSERT OR DELETE ON persons
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER persons_feed_update AFTER UPDATE ON persons
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER year_records_feed AFTER INSERT OR DELETE ON year_records
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER year_records_feed_update AFTER UPDATE ON year_records
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER title_registrations_feed AFTER INSERT OR UPDATE OR DELETE ON title_registrations
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER rule_sets_feed AFTER INSERT OR UPDATE OR DELETE ON rule_sets
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER base_salaries_feed AFTER INSERT OR UPDATE OR DELETE ON base_salaries
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER council_sessions_feed AFTER INSERT OR UPDATE OR DELETE ON council_sessions
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER ballots_feed AFTER INSERT OR UPDATE OR DELETE ON ballots
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER award_decisions_feed AFTER INSERT OR UPDATE OR DELETE ON award_decisions
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER awards_feed AFTER INSERT OR DELETE ON awards
    FOR EACH ROW EXECUTE FUNCTION r.feed_change();
CREATE TRIGGER awards_feed_update AFTER UPDATE ON awards
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION r.feed_change();

-- The sequencer: numbers at most `max_rows` events that this snapshot sees committed and that
-- have no number yet, one transaction's events together and in the order written, after every
-- number given before. One sequencer at a time across instances (the advisory lock; the others
-- return 0 at once), and its lock is released only after its numbers are visible, so the next
-- one starts after them: numbers become visible in increasing order, as whole batches. A
-- reader reading `seq > cursor` therefore never misses an event (a transaction still open has
-- no number yet, and gets a larger one once it commits) and never sees one twice. Returns the
-- number of events numbered.
CREATE FUNCTION r.sequence_changes(max_rows integer DEFAULT 5000) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    numbered bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7246151) THEN
        RETURN 0;
    END IF;
    SELECT last_seq INTO last FROM change_feed_state;
    WITH batch AS (
        SELECT q.id, last + row_number() OVER (ORDER BY q.xid, q.id) AS seq
        FROM (SELECT e.id, e.xid FROM change_events AS e WHERE e.seq IS NULL
              ORDER BY e.xid, e.id LIMIT max_rows) AS q
    ), done AS (
        UPDATE change_events AS e SET seq = b.seq FROM batch AS b WHERE e.id = b.id
        RETURNING e.seq
    )
    SELECT count(*), coalesce(max(done.seq), last) INTO numbered, last FROM done;
    IF numbered > 0 THEN
        UPDATE change_feed_state SET last_seq = last;
    END IF;
    RETURN numbered;
END
$$;

-- The retention: deletes at most `max_rows` numbered events older than `keep`, and remembers
-- the highest number deleted, so that a cursor below it (which may miss deleted events) is
-- answered 410 resync_required. Under the sequencer's lock, so both never interleave.
CREATE FUNCTION r.purge_changes(keep interval, max_rows integer DEFAULT 10000) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    purged bigint;
    through bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7246151) THEN
        RETURN 0;
    END IF;
    WITH gone AS (
        DELETE FROM change_events
        WHERE id = ANY (ARRAY(SELECT e.id FROM change_events AS e
                              WHERE e.seq IS NOT NULL AND e.at < now() - keep
                              ORDER BY e.seq LIMIT max_rows))
        RETURNING seq
    )
    SELECT count(*), max(gone.seq) INTO purged, through FROM gone;
    IF purged > 0 THEN
        UPDATE change_feed_state SET purged_through = greatest(purged_through, through);
    END IF;
    RETURN purged;
END
$$;
