-- list: the two statements GET /api/v1/pledges?organization_id=<commune>&subtree=true&limit=50
-- issues for an administrator (the unit's path, then one keyset page of limit + 1 rows,
-- a deferred join: the page's ids from the path index, then those rows).
\set i random(1, :ncommunes)
\set one 1
\set lim 51
SELECT organizations.path || '%' AS pattern FROM organizations
  WHERE organizations.id = (SELECT b.id FROM bench_orgs b WHERE b.level = 'commune' AND b.i = :i) LIMIT :one \gset
SELECT pledges.id, pledges.campaign_id, pledges.organization_id, pledges.organization_path, pledges.root_organization_id, pledges.year, pledges.kind, pledges.field, pledges.title, pledges.description, pledges.target_value, pledges.target_unit, pledges.title_name, pledges.deadline, pledges.exemplar_id, pledges.exemplar_relation, pledges.status, pledges.result, pledges.assessment_note, pledges.status_reason, pledges.submitted_at, pledges.approved_at, pledges.approved_by, pledges.assessed_at, pledges.progress_percent, pledges.current_value, pledges.last_reported_on, pledges.created_by, pledges.created_at, pledges.updated_at, pledges.version
  FROM pledges WHERE pledges.id IN (
    SELECT pledges.id FROM pledges WHERE pledges.organization_path LIKE :pattern
    ORDER BY pledges.created_at ASC, pledges.id ASC LIMIT :lim)
  ORDER BY pledges.created_at ASC, pledges.id ASC;
