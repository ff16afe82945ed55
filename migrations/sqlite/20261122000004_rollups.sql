-- Hourly and daily rollups of samples (see server/src/rollup.rs), updated in
-- the same transaction as the samples, so uptime windows, daily bars and
-- response-time series never scan raw samples. b0..b10 are latency histogram
-- buckets with upper bounds 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
-- 10000 ms and beyond.

CREATE TABLE rollups_hourly (
    service_id     INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    period_start   INTEGER NOT NULL,
    up             INTEGER NOT NULL DEFAULT 0,
    degraded       INTEGER NOT NULL DEFAULT 0,
    down           INTEGER NOT NULL DEFAULT 0,
    latency_count  INTEGER NOT NULL DEFAULT 0,
    latency_sum_ms INTEGER NOT NULL DEFAULT 0,
    latency_max_ms INTEGER NOT NULL DEFAULT 0,
    b0             INTEGER NOT NULL DEFAULT 0,
    b1             INTEGER NOT NULL DEFAULT 0,
    b2             INTEGER NOT NULL DEFAULT 0,
    b3             INTEGER NOT NULL DEFAULT 0,
    b4             INTEGER NOT NULL DEFAULT 0,
    b5             INTEGER NOT NULL DEFAULT 0,
    b6             INTEGER NOT NULL DEFAULT 0,
    b7             INTEGER NOT NULL DEFAULT 0,
    b8             INTEGER NOT NULL DEFAULT 0,
    b9             INTEGER NOT NULL DEFAULT 0,
    b10            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, period_start)
) WITHOUT ROWID;

CREATE TABLE rollups_daily (
    service_id     INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    period_start   INTEGER NOT NULL,
    up             INTEGER NOT NULL DEFAULT 0,
    degraded       INTEGER NOT NULL DEFAULT 0,
    down           INTEGER NOT NULL DEFAULT 0,
    latency_count  INTEGER NOT NULL DEFAULT 0,
    latency_sum_ms INTEGER NOT NULL DEFAULT 0,
    latency_max_ms INTEGER NOT NULL DEFAULT 0,
    b0             INTEGER NOT NULL DEFAULT 0,
    b1             INTEGER NOT NULL DEFAULT 0,
    b2             INTEGER NOT NULL DEFAULT 0,
    b3             INTEGER NOT NULL DEFAULT 0,
    b4             INTEGER NOT NULL DEFAULT 0,
    b5             INTEGER NOT NULL DEFAULT 0,
    b6             INTEGER NOT NULL DEFAULT 0,
    b7             INTEGER NOT NULL DEFAULT 0,
    b8             INTEGER NOT NULL DEFAULT 0,
    b9             INTEGER NOT NULL DEFAULT 0,
    b10            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, period_start)
) WITHOUT ROWID;
