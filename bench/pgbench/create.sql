-- create: the INSERTs of POST /api/v1/pledges (pledge, idempotency key with the stored reply,
-- audit event with the pledge snapshot) in one transaction. The service also runs the key's
-- claim/update and the organization and campaign look-ups; those are its own overhead.
\set i random(1, :ncommunes)
BEGIN;
INSERT INTO pledges (id, campaign_id, organization_id, organization_path, root_organization_id,
    year, kind, field, title, target_value, target_unit, deadline, created_by)
  SELECT gen_random_uuid(), :campaign::uuid, b.id, b.path, :root::uuid, 2025, 'target', 'van_hoa',
    'Benchmark pledge', 12.5, '%', '2025-12-15', :admin::uuid
  FROM bench_orgs b WHERE b.level = 'commune' AND b.i = :i
  RETURNING id AS pledge_id, organization_id AS org_id \gset
INSERT INTO idempotency_keys (principal_id, key, request_digest, status, location, etag, body)
  VALUES (:admin::uuid, 'pgbench-' || :pledge_id, '\x00'::bytea, 201,
    '/api/v1/pledges/' || :pledge_id, '"1"', :body);
INSERT INTO audit_events (id, actor_id, actor_kind, action, entity_type, entity_id,
    organization_id, after, request_id)
  VALUES (gen_random_uuid(), :admin::uuid, 'user', 'pledge.create', 'pledge', :pledge_id::uuid,
    :org_id::uuid, :body::jsonb, 'pgbench');
END;
