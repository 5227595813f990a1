-- Lists of persons and candidates at every level read one page, not the subtree (issue 20).
--
-- `GET /persons?organization_id=X&subtree=true` joined every person to its unit to test the
-- unit's path, and ordered by person id: at a province PostgreSQL read all of the province's
-- persons and sorted them to return 51. A person now carries the path of its unit (kept current
-- by the triggers of src/db/replaceable.sql, as title registrations do since 000360), and the
-- subtree's head indexes give a subtree's persons in id order: the page is the first 51 entries
-- of one equality, `path_head(organization_path, n) = '1.7.'`, however large the subtree
-- (listing::subtree_condition writes it; migration 2026-12-06-000500 has the same for pledges).
-- The candidates of a title read registrations in id order the same way.
ALTER TABLE persons ADD COLUMN organization_path text COLLATE "C";
UPDATE persons p SET organization_path = o.path FROM organizations o WHERE o.id = p.organization_id;
ALTER TABLE persons ALTER COLUMN organization_path SET NOT NULL;

CREATE INDEX persons_head1_idx ON persons (path_head(organization_path, 1), id);
CREATE INDEX persons_head2_idx ON persons (path_head(organization_path, 2), id);
CREATE INDEX persons_head3_idx ON persons (path_head(organization_path, 3), id);
-- Below a commune subtrees are small: a range of the path, then a sort.
CREATE INDEX persons_path_idx ON persons (organization_path, id);

CREATE INDEX title_registrations_head1_idx
    ON title_registrations (title_code, year, path_head(organization_path, 1), id);
CREATE INDEX title_registrations_head2_idx
    ON title_registrations (title_code, year, path_head(organization_path, 2), id);
CREATE INDEX title_registrations_head3_idx
    ON title_registrations (title_code, year, path_head(organization_path, 3), id);
