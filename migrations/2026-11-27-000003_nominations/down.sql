ALTER TABLE pledges DROP CONSTRAINT pledges_exemplar_fk;
DROP TABLE nomination_reviews;
DROP TABLE nominations;
