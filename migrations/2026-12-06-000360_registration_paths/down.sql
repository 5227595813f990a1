DROP INDEX title_registrations_path_idx;
ALTER TABLE title_registrations DROP COLUMN organization_path;
