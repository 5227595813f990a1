DROP INDEX title_registrations_head3_idx;
DROP INDEX title_registrations_head2_idx;
DROP INDEX title_registrations_head1_idx;
DROP INDEX persons_path_idx;
DROP INDEX persons_head3_idx;
DROP INDEX persons_head2_idx;
DROP INDEX persons_head1_idx;
ALTER TABLE persons DROP COLUMN organization_path;
