-- Samples taken during maintenance are counted apart in the rollups, so
-- uptime leaves maintenance time out.
ALTER TABLE rollups_hourly ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_daily ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
