-- aggregate, naive: one GROUP BY over the raw pledge rows of the subtree (:pattern = path%).
SELECT pledges.status, count(*) FROM pledges WHERE pledges.organization_path LIKE :pattern
  GROUP BY pledges.status;
