-- Push checks: a per-service token (SHA-256 only) and the newest heartbeat,
-- which the push check turns into one sample per interval.
ALTER TABLE services ADD COLUMN push_token_hash BLOB;
ALTER TABLE services ADD COLUMN last_push_at INTEGER;
ALTER TABLE services ADD COLUMN last_push_outcome INTEGER CHECK (last_push_outcome IN (0, 1, 2));
ALTER TABLE services ADD COLUMN last_push_msg TEXT;
ALTER TABLE services ADD COLUMN last_push_latency_ms INTEGER;
CREATE UNIQUE INDEX services_push_token ON services (push_token_hash) WHERE push_token_hash IS NOT NULL;
