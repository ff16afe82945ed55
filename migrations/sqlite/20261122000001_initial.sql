-- Initial schema (SQLite). Times are integer Unix milliseconds, UTC.

CREATE TABLE services (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    group_name  TEXT,
    description TEXT,
    position    INTEGER NOT NULL DEFAULT 0,
    check_kind  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER
);

-- One row per probe result. WITHOUT ROWID keeps each row in the primary-key
-- b-tree only: (service, time) lookups, "latest per service" and pruning by
-- time per service all use it, and no second index doubles the size.
CREATE TABLE samples (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    taken_at   INTEGER NOT NULL,
    outcome    INTEGER NOT NULL CHECK (outcome IN (0, 1, 2)), -- up, degraded, down
    latency_ms INTEGER,
    error      TEXT,
    PRIMARY KEY (service_id, taken_at)
) WITHOUT ROWID;

CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY,
    title        TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    impact       TEXT    NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical')),
    created_by   TEXT    NOT NULL CHECK (created_by IN ('auto', 'admin')),
    auto_resolve INTEGER NOT NULL DEFAULT 1,
    started_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- Active incidents (page, unresolved.json) and history by start time.
CREATE INDEX incidents_unresolved ON incidents (started_at) WHERE resolved_at IS NULL;
CREATE INDEX incidents_started_at ON incidents (started_at DESC);

CREATE TABLE incident_services (
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    service_id  INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    status      TEXT    NOT NULL CHECK (status IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    PRIMARY KEY (incident_id, service_id)
);
CREATE INDEX incident_services_service ON incident_services (service_id);

CREATE TABLE incident_updates (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status      TEXT    NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    body        TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

CREATE TABLE maintenances (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    description TEXT,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    -- Optional recurrence rule (e.g. RRULE text); NULL for one-off windows.
    recurrence  TEXT,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
-- In-progress and upcoming windows are found by time.
CREATE INDEX maintenances_window ON maintenances (ends_at, starts_at);

CREATE TABLE maintenance_services (
    maintenance_id INTEGER NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    service_id     INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    PRIMARY KEY (maintenance_id, service_id)
);
CREATE INDEX maintenance_services_service ON maintenance_services (service_id);

CREATE TABLE maintenance_updates (
    id             INTEGER PRIMARY KEY,
    maintenance_id INTEGER NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    status         TEXT    NOT NULL CHECK (status IN ('scheduled', 'in_progress', 'verifying', 'completed')),
    body           TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX maintenance_updates_maintenance ON maintenance_updates (maintenance_id, created_at);

-- Admin API tokens. Only a SHA-256 hash of the token is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
