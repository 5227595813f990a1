DROP TRIGGER pledges_follow_organization_move ON organizations;
DROP FUNCTION pledges_follow_organization_move();
DROP TABLE idempotency_keys;
DROP TABLE pledge_progress;
DROP TABLE pledges;
