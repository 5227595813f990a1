ALTER TABLE nominations DROP COLUMN submitted_by;
ALTER TABLE pledges DROP COLUMN submitted_by;
