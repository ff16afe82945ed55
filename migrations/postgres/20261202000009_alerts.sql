-- The alert outbox. An event is written in the transaction of the change
-- that causes it (a writer round's incident changes and status changes, an
-- admin's incident change), so a crash can neither lose nor invent it. The
-- leader then routes each event once (routed_at set in the same
-- transaction as its deliveries) and delivers them.
CREATE TABLE alert_events (
    id          BIGSERIAL   PRIMARY KEY,
    kind        TEXT    NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    dedup_key   TEXT    NOT NULL,
    -- The slug of the service the event is about (cooldown is per route,
    -- service and kind); NULL for tests.
    subject     TEXT,
    incident_id BIGINT,
    service_id  BIGINT,
    -- domain::alert::AlertEvent as JSON (the webhook body, less the page's
    -- address and title, which come from the config when it is sent).
    body        TEXT    NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    routed_at   TIMESTAMPTZ
);
CREATE INDEX alert_events_unrouted ON alert_events (id) WHERE routed_at IS NULL;
CREATE INDEX alert_events_created ON alert_events (created_at);
CREATE INDEX alert_events_subject ON alert_events (subject, kind);
CREATE INDEX alert_events_dedup ON alert_events (dedup_key);

-- One event on one route: pending until delivered, or failed after the
-- last attempt, or suppressed (cooldown, maintenance) when routed.
CREATE TABLE alert_deliveries (
    id              BIGSERIAL   PRIMARY KEY,
    event_id        BIGINT  NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    route           TEXT    NOT NULL,
    route_kind      TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    reason          TEXT,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    last_error      TEXT,
    UNIQUE (event_id, route)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_route ON alert_deliveries (route, created_at);

-- Every attempt to deliver, for the history.
CREATE TABLE alert_attempts (
    id          BIGSERIAL   PRIMARY KEY,
    delivery_id BIGINT  NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT  NOT NULL
);
CREATE INDEX alert_attempts_delivery ON alert_attempts (delivery_id);
