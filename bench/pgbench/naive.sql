-- aggregate, naive: one GROUP BY over the raw pledge rows of a random unit's subtree
-- (:level is root, province or commune; :nlevel the number of such units in bench_orgs).
\set i random(1, :nlevel)
SELECT b.path || '%' AS pattern FROM bench_orgs b WHERE b.level = :level AND b.i = :i \gset
SELECT pledges.status, count(*) FROM pledges WHERE pledges.organization_path LIKE :pattern
  GROUP BY pledges.status;
