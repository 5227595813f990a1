DROP TABLE idempotency_keys;
DROP TABLE pledge_progress;
DROP TABLE pledges;
