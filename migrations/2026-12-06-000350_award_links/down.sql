DROP INDEX nominations_award_once;
ALTER TABLE nominations DROP COLUMN award_id;
DROP INDEX awards_path_idx;
ALTER TABLE awards DROP COLUMN organization_path;
