-- Awards carry the tree position of their subject's unit at the end of their year, like
-- pledges and nominations (a trigger fills it at insert; a restructuring moves those of its
-- year and later with the subtree), so /stats/awards reads a past year on the structure it
-- ended with and a unit answers for its predecessors' awards.
ALTER TABLE awards ADD COLUMN organization_path text COLLATE "C";
UPDATE awards a SET organization_path = o.path
FROM organizations o
WHERE o.id = coalesce((SELECT p.organization_id FROM persons p WHERE p.id = a.person_id), a.organization_id);
ALTER TABLE awards ALTER COLUMN organization_path SET NOT NULL;
CREATE INDEX awards_path_idx ON awards (year, organization_path text_pattern_ops);

-- A commendation may cite the award (in an award decision) that commended the nomination:
-- one award backs at most one nomination, so one achievement is not rewarded twice.
ALTER TABLE nominations ADD COLUMN award_id uuid REFERENCES awards (id);
CREATE UNIQUE INDEX nominations_award_once ON nominations (award_id) WHERE award_id IS NOT NULL;
