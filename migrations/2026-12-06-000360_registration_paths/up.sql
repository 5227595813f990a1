-- A title registration carries the tree position of its subject's unit (a person's unit, a
-- collective itself), kept current by triggers of src/db/replaceable.sql: the candidates of a
-- commune read that commune's registrations by one index range instead of looking up, for
-- every registration of the title and year in the country, its subject's unit and path.
ALTER TABLE title_registrations ADD COLUMN organization_path text COLLATE "C";
UPDATE title_registrations r SET organization_path = o.path
FROM organizations o
WHERE o.id = coalesce((SELECT p.organization_id FROM persons p WHERE p.id = r.person_id), r.organization_id);
ALTER TABLE title_registrations ALTER COLUMN organization_path SET NOT NULL;
CREATE INDEX title_registrations_path_idx
    ON title_registrations (title_code, year, organization_path text_pattern_ops);
