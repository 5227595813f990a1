-- Facet tallies: the aggregates that read raw rows get tallies of their own (issue 20).
--
-- `tallies` answer groupings by status, result, pledge kind, nominee type and child. Grouping
-- pledges by field, by the kind of the unit holding them or by the month of their deadline,
-- nominations by field, and the totals of `/stats/titles`, read every row of the subtree
-- (1.3-2.4 s at the root of 1M pledges). Here each of those is a facet: a name and a value
-- per row,
--
--   pledges      field                 the pledge's field code
--                organization_kind     the kind of the unit holding it (today's kind)
--                month                 'YYYY-MM' of its deadline
--                title:<unit kind>     the title name of a title pledge ('' when it has none),
--                                      under the kind of the unit holding it, so the totals
--                                      of /stats/titles filter by unit kind, title or both
--   nominations  field                 the nomination's field code
--
-- counted like the other tallies, per ancestor, status and result in `facet_tallies`, and the
-- open pledges by deadline in `facet_deadline_tallies` (overdue pledges per facet value), but
-- in the row's own campaign and year only, not the four slices of the plain tallies: a reader
-- that names no campaign or year sums a facet over them (the facet leads the key after the
-- ancestor, so that is one index range of a few thousand entries at most), and the fold
-- writes a quarter of the rows it would (it writes per delta, ancestor and facet). The same deltas feed them: a delta carries its row's facet values
-- (NULL: the row does not count in that facet), and the fold writes the plain tallies and the
-- facet tallies from it in one statement (`r.fold_tallies`, src/db/replaceable.sql).

ALTER TABLE tally_deltas
    ADD COLUMN field text COLLATE "C",
    ADD COLUMN holder_kind text COLLATE "C",
    ADD COLUMN month text COLLATE "C",
    ADD COLUMN title_name text COLLATE "C";

CREATE TABLE facet_tallies (
    ancestor_path   text COLLATE "C" NOT NULL,
    entity          text COLLATE "C" NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    facet           text COLLATE "C" NOT NULL,
    value           text COLLATE "C" NOT NULL,
    status          text COLLATE "C" NOT NULL,
    result          text COLLATE "C" NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (ancestor_path, entity, facet, campaign_id, year, value, status, result) INCLUDE (count)
);
CREATE INDEX facet_tallies_zero_idx ON facet_tallies (ancestor_path) WHERE count = 0;

-- Open pledges (neither assessed nor withdrawn) by facet value and deadline; deadlines behind
-- the horizon (`tally_state.collapsed_before`) are merged into `-infinity`, as in
-- deadline_tallies.
CREATE TABLE facet_deadline_tallies (
    ancestor_path   text COLLATE "C" NOT NULL,
    campaign_id     uuid NOT NULL,
    year            integer NOT NULL,
    facet           text COLLATE "C" NOT NULL,
    deadline        date NOT NULL,
    value           text COLLATE "C" NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (ancestor_path, facet, campaign_id, year, deadline, value) INCLUDE (count)
);
CREATE INDEX facet_deadline_tallies_zero_idx ON facet_deadline_tallies (ancestor_path) WHERE count = 0;

-- The page of units of /stats/titles in a subtree reads its title pledges by path: from this
-- index alone (a quarter of the pledges), instead of the heap rows of every pledge of the
-- subtree (a province of the 1M data set: 29 000 heap fetches, 90 ms of PostgreSQL CPU).
CREATE INDEX pledges_titles_idx ON pledges (organization_path)
    INCLUDE (organization_id, campaign_id, year, status, result, title_name, title)
    WHERE kind = 'title';

-- The rows that exist already, as pairs of deltas that add up to nothing in the plain tallies
-- (which count them already) and to the rows' counts in their facets: one with the facet
-- values, one without them and the opposite count. The service's fold moves them (in
-- batches, readers exact throughout: they add every delta still queued).
INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline,
                          field, holder_kind, month, title_name, delta)
SELECT g.organization_path, 'p', g.campaign_id, g.year, g.kind, g.status, g.result, g.open_deadline,
       facets.field, facets.holder_kind, facets.month, facets.title_name, facets.sign * g.count
FROM (
    SELECT p.organization_path, p.campaign_id, p.year, p.kind, p.status, coalesce(p.result, 'none') AS result,
           CASE WHEN p.status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE p.deadline END AS open_deadline,
           p.field, o.kind AS holder_kind, to_char(p.deadline, 'YYYY-MM') AS month,
           CASE WHEN p.kind = 'title' THEN coalesce(p.title_name, '') END AS title_name, count(*) AS count
    FROM pledges AS p JOIN organizations AS o ON o.id = p.organization_id
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
) AS g
CROSS JOIN LATERAL (VALUES (1, g.field, g.holder_kind, g.month, g.title_name),
                           (-1, NULL, NULL, NULL, NULL)) AS facets (sign, field, holder_kind, month, title_name)
UNION ALL
SELECT g.organization_path, 'n', g.campaign_id, g.year, g.nominee_type, g.status, 'none', 'infinity'::date,
       facets.field, NULL, NULL, NULL, facets.sign * g.count
FROM (
    SELECT organization_path, campaign_id, year, nominee_type, status, field, count(*) AS count
    FROM nominations
    GROUP BY 1, 2, 3, 4, 5, 6
) AS g
CROSS JOIN LATERAL (VALUES (1, g.field), (-1, NULL)) AS facets (sign, field);
