-- The round log: what each writer round stored (samples and states, as
-- JSON), so that followers load only what changed instead of every
-- service's rollups. Each round also sends NOTIFY upbeat_rounds, which
-- followers LISTEN to. Kept for ten minutes.
CREATE TABLE writer_rounds (
    seq               BIGSERIAL   PRIMARY KEY,
    -- The epoch of the lease the round was written under.
    epoch             BIGINT      NOT NULL,
    incidents_changed BOOLEAN     NOT NULL,
    -- Time of the newest sample in the round.
    newest_sample     TIMESTAMPTZ NOT NULL,
    body              TEXT        NOT NULL
);
CREATE INDEX writer_rounds_newest_sample ON writer_rounds (newest_sample);
