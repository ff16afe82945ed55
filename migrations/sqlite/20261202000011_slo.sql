-- Service level objectives (server/src/domain/slo.rs).
--
-- slo_states: each objective's last status, written in the transaction
-- of the slo.burn alert event its change causes, so a restart neither
-- repeats nor loses a burn alert.
CREATE TABLE slo_states (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    objective  TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('ok', 'warning', 'critical', 'exhausted')),
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (service_id, objective)
) WITHOUT ROWID;

-- slo_days: one measurement per service, objective and UTC day, written
-- when the day is over: the day's good and bad samples, the target then,
-- and the window's compliance and error budget left at the day's end, so
-- reports of past months need neither raw samples nor rollups (which are
-- kept for 90 days; these rows for two years).
CREATE TABLE slo_days (
    service_id       INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    objective        TEXT NOT NULL,
    day              INTEGER NOT NULL,
    target_ppb       BIGINT NOT NULL, -- the target in parts per billion (0.999 → 999000000)
    good             BIGINT NOT NULL,
    bad              BIGINT NOT NULL,
    window_good      BIGINT NOT NULL,
    window_bad       BIGINT NOT NULL,
    PRIMARY KEY (service_id, objective, day)
) WITHOUT ROWID;
