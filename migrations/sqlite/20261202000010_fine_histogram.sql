-- The fine latency histogram (server/src/domain/rollup.rs, `Histogram`):
-- sparse, the buckets holding samples as LEB128 varint pairs (distance from
-- the previous bucket, count). Latency objectives count samples under a
-- threshold exactly from it, and percentiles are within one of its buckets
-- (1 ms up to 100 ms, 10 % wide above). Rows written before it keep their
-- coarse buckets b0..b10, which are read as fine ones and no longer
-- written.
ALTER TABLE rollups_hourly ADD COLUMN histogram BLOB;
ALTER TABLE rollups_daily ADD COLUMN histogram BLOB;
