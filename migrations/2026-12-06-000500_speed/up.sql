-- Lists at every level of the tree read one page, not the subtree (issue 20).
--
-- A subtree list (`organization_path LIKE '1.7.%' ORDER BY created_at, id LIMIT 51`) can only
-- range over `(organization_path, created_at, id)`: the subtree's entries come out ordered by
-- unit first, so PostgreSQL reads every one of them and sorts them to return 51. At the root of
-- a national tree that is every pledge (1 170 ms at 1M). Keyed by the subtree's head instead,
-- the first n labels of the path, `path_head(organization_path, n) = '1.7.'` is one equality
-- whose entries are already in creation order: the page is the first 51 of them, whatever the
-- subtree's size. One index per level that has large subtrees: the root (1 label), a province
-- (2) and a commune (3); below a commune, subtrees are small and the path index serves them.
-- `listing::subtree_condition` writes the condition in exactly this form.

-- The first `labels` labels of a materialized path ("1.7.42.", 2 -> "1.7."); NULL when the
-- path has fewer. An inlinable SQL function, so the index expression and the query match.
CREATE FUNCTION path_head(path text, labels integer) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT substring(path FROM ('^(?:[^.]*\.){' || labels || '}')) $$;

-- The same within one year (the filter every list of a campaign year carries): rows are
-- created in their year, so a year's page ordered by creation alone would first walk every
-- earlier year's rows.
CREATE INDEX pledges_head1_year_created_idx ON pledges (path_head(organization_path, 1), year, created_at, id);
CREATE INDEX pledges_head2_year_created_idx ON pledges (path_head(organization_path, 2), year, created_at, id);
CREATE INDEX pledges_head3_year_created_idx ON pledges (path_head(organization_path, 3), year, created_at, id);

CREATE INDEX pledges_head1_created_idx ON pledges (path_head(organization_path, 1), created_at, id);
CREATE INDEX pledges_head2_created_idx ON pledges (path_head(organization_path, 2), created_at, id);
CREATE INDEX pledges_head3_created_idx ON pledges (path_head(organization_path, 3), created_at, id);

CREATE INDEX nominations_head1_year_created_idx ON nominations (path_head(organization_path, 1), year, created_at, id);
CREATE INDEX nominations_head2_year_created_idx ON nominations (path_head(organization_path, 2), year, created_at, id);
CREATE INDEX nominations_head3_year_created_idx ON nominations (path_head(organization_path, 3), year, created_at, id);

CREATE INDEX nominations_head1_created_idx ON nominations (path_head(organization_path, 1), created_at, id);
CREATE INDEX nominations_head2_created_idx ON nominations (path_head(organization_path, 2), created_at, id);
CREATE INDEX nominations_head3_created_idx ON nominations (path_head(organization_path, 3), created_at, id);

-- Exemplars of a subtree, most recently recognized first.
CREATE INDEX nominations_head1_exemplars_idx ON nominations
    (path_head(organization_path, 1), recognized_at DESC, id DESC)
    WHERE status IN ('recognized', 'commended');
CREATE INDEX nominations_head2_exemplars_idx ON nominations
    (path_head(organization_path, 2), recognized_at DESC, id DESC)
    WHERE status IN ('recognized', 'commended');
CREATE INDEX nominations_head3_exemplars_idx ON nominations
    (path_head(organization_path, 3), recognized_at DESC, id DESC)
    WHERE status IN ('recognized', 'commended');

-- Statistics of the new expressions, so the planner knows how many rows a head holds.
ANALYZE pledges;
ANALYZE nominations;
