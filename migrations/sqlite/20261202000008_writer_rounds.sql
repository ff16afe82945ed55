-- The round log: what each writer round stored (samples and states, as
-- JSON), so that followers load only what changed instead of every
-- service's rollups. Only PostgreSQL has followers and writes it; the
-- table is here so both schemas stay alike. Kept for ten minutes.
CREATE TABLE writer_rounds (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The epoch of the lease the round was written under.
    epoch             INTEGER NOT NULL,
    incidents_changed INTEGER NOT NULL,
    -- Time of the newest sample in the round (Unix ms).
    newest_sample     INTEGER NOT NULL,
    body              TEXT    NOT NULL
);
CREATE INDEX writer_rounds_newest_sample ON writer_rounds (newest_sample);
