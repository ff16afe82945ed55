-- The alert outbox. An event is written in the transaction of the change
-- that causes it (a writer round's incident changes and status changes, an
-- admin's incident change), so a crash can neither lose nor invent it. The
-- leader then routes each event once (routed_at set in the same
-- transaction as its deliveries) and delivers them.
CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    dedup_key   TEXT    NOT NULL,
    -- The slug of the service the event is about (cooldown is per route,
    -- service and kind); NULL for tests.
    subject     TEXT,
    incident_id INTEGER,
    service_id  INTEGER,
    -- domain::alert::AlertEvent as JSON (the webhook body, less the page's
    -- address and title, which come from the config when it is sent).
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    routed_at   INTEGER
);
CREATE INDEX alert_events_unrouted ON alert_events (id) WHERE routed_at IS NULL;
CREATE INDEX alert_events_created ON alert_events (created_at);
CREATE INDEX alert_events_subject ON alert_events (subject, kind);
CREATE INDEX alert_events_dedup ON alert_events (dedup_key);

-- One event on one route: pending until delivered, or failed after the
-- last attempt, or suppressed (cooldown, maintenance) when routed.
CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    route           TEXT    NOT NULL,
    route_kind      TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    reason          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    last_error      TEXT,
    UNIQUE (event_id, route)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_route ON alert_deliveries (route, created_at);

-- Every attempt to deliver, for the history.
CREATE TABLE alert_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX alert_attempts_delivery ON alert_attempts (delivery_id);
