-- Hysteresis state per service (see server/src/status.rs), written in the
-- same transaction as the samples that produced it, so a restart resumes
-- exactly: no duplicate incident, no forgotten recovery.
ALTER TABLE services
    ADD COLUMN status TEXT
        CHECK (status IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    ADD COLUMN bad_run INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN good_run INTEGER NOT NULL DEFAULT 0,
    -- Time of the newest sample applied to the state.
    ADD COLUMN state_at TIMESTAMPTZ;
