-- Initial schema (PostgreSQL). Times are timestamptz, UTC.

CREATE TABLE services (
    id          BIGSERIAL   PRIMARY KEY,
    slug        TEXT        NOT NULL UNIQUE,
    name        TEXT        NOT NULL,
    group_name  TEXT,
    description TEXT,
    position    INTEGER     NOT NULL DEFAULT 0,
    check_kind  TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ
);

-- One row per probe result; the primary key serves "latest per service",
-- time ranges per service and pruning, so there is no second index.
CREATE TABLE samples (
    service_id BIGINT      NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    taken_at   TIMESTAMPTZ NOT NULL,
    outcome    SMALLINT    NOT NULL CHECK (outcome IN (0, 1, 2)), -- up, degraded, down
    latency_ms INTEGER,
    error      TEXT,
    PRIMARY KEY (service_id, taken_at)
);

CREATE TABLE incidents (
    id           BIGSERIAL   PRIMARY KEY,
    title        TEXT        NOT NULL,
    status       TEXT        NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    impact       TEXT        NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical')),
    created_by   TEXT        NOT NULL CHECK (created_by IN ('auto', 'admin')),
    auto_resolve BOOLEAN     NOT NULL DEFAULT TRUE,
    started_at   TIMESTAMPTZ NOT NULL,
    resolved_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX incidents_unresolved ON incidents (started_at) WHERE resolved_at IS NULL;
CREATE INDEX incidents_started_at ON incidents (started_at DESC);

CREATE TABLE incident_services (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    service_id  BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    status      TEXT   NOT NULL CHECK (status IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    PRIMARY KEY (incident_id, service_id)
);
CREATE INDEX incident_services_service ON incident_services (service_id);

CREATE TABLE incident_updates (
    id          BIGSERIAL   PRIMARY KEY,
    incident_id BIGINT      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status      TEXT        NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    body        TEXT        NOT NULL,
    created_by  TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

CREATE TABLE maintenances (
    id          BIGSERIAL   PRIMARY KEY,
    title       TEXT        NOT NULL,
    description TEXT,
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    recurrence  TEXT,
    created_by  TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenances_window ON maintenances (ends_at, starts_at);

CREATE TABLE maintenance_services (
    maintenance_id BIGINT NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    service_id     BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    PRIMARY KEY (maintenance_id, service_id)
);
CREATE INDEX maintenance_services_service ON maintenance_services (service_id);

CREATE TABLE maintenance_updates (
    id             BIGSERIAL   PRIMARY KEY,
    maintenance_id BIGINT      NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    status         TEXT        NOT NULL CHECK (status IN ('scheduled', 'in_progress', 'verifying', 'completed')),
    body           TEXT        NOT NULL,
    created_by     TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX maintenance_updates_maintenance ON maintenance_updates (maintenance_id, created_at);

CREATE TABLE api_tokens (
    id           BIGSERIAL   PRIMARY KEY,
    name         TEXT        NOT NULL UNIQUE,
    token_hash   BYTEA       NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
