-- Samples taken during maintenance are counted apart in the rollups, so
-- uptime leaves maintenance time out.
ALTER TABLE rollups_hourly ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_daily ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;

-- Sample times in whole Unix seconds instead of milliseconds: a 4-byte
-- integer instead of a 6-byte one in every row and key of the largest table
-- (probes run at most once a second per service). Other tables keep
-- milliseconds.
CREATE TABLE samples_s (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    taken_at   INTEGER NOT NULL, -- Unix seconds, UTC
    outcome    INTEGER NOT NULL CHECK (outcome IN (0, 1, 2)), -- up, degraded, down
    latency_ms INTEGER,
    error      TEXT,
    PRIMARY KEY (service_id, taken_at)
) WITHOUT ROWID;
INSERT OR IGNORE INTO samples_s (service_id, taken_at, outcome, latency_ms, error)
    SELECT service_id, taken_at / 1000, outcome, latency_ms, error FROM samples;
DROP TABLE samples;
ALTER TABLE samples_s RENAME TO samples;
