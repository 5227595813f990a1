-- read one: the statement GET /api/v1/pledges/{id} issues (diesel find(id).first()).
-- The random id comes from bench_pledge_ids inside the same statement: one round trip.
\set i random(1, :nids)
\set one 1
SELECT pledges.id, pledges.campaign_id, pledges.organization_id, pledges.organization_path, pledges.root_organization_id, pledges.year, pledges.kind, pledges.field, pledges.title, pledges.description, pledges.target_value, pledges.target_unit, pledges.title_name, pledges.deadline, pledges.exemplar_id, pledges.exemplar_relation, pledges.status, pledges.result, pledges.assessment_note, pledges.status_reason, pledges.submitted_at, pledges.approved_at, pledges.approved_by, pledges.assessed_at, pledges.progress_percent, pledges.current_value, pledges.last_reported_on, pledges.created_by, pledges.created_at, pledges.updated_at, pledges.version
  FROM pledges WHERE pledges.id = (SELECT b.id FROM bench_pledge_ids b WHERE b.i = :i) LIMIT :one;
