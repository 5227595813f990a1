-- Four eyes: whoever submitted a pledge or a nomination never decides on it. The submitter is
-- recorded at each submission (a returned pledge submitted again names its new submitter).
ALTER TABLE pledges ADD COLUMN submitted_by uuid;
ALTER TABLE nominations ADD COLUMN submitted_by uuid;

-- Existing rows: the best knowledge there is, the submission's audit event.
UPDATE pledges p
SET submitted_by = e.actor_id
FROM (SELECT DISTINCT ON (entity_id) entity_id, actor_id
      FROM audit_events
      WHERE action = 'pledge.submit'
      ORDER BY entity_id, occurred_at DESC) e
WHERE e.entity_id = p.id AND p.submitted_at IS NOT NULL;

UPDATE nominations n
SET submitted_by = e.actor_id
FROM (SELECT DISTINCT ON (entity_id) entity_id, actor_id
      FROM audit_events
      WHERE action = 'nomination.submit'
      ORDER BY entity_id, occurred_at DESC) e
WHERE e.entity_id = n.id AND n.submitted_at IS NOT NULL;
