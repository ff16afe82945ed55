-- Idempotency-Key on admin POSTs: the first answer to a key is kept for a
-- day and replayed to retries with the same key and request.
CREATE TABLE idempotency_keys (
    -- The acting token's name: keys of different tokens never collide.
    actor       TEXT        NOT NULL,
    key         TEXT        NOT NULL,
    -- SHA-256 of method, path and body, hex.
    fingerprint TEXT        NOT NULL,
    -- NULL while the first request is still running.
    status      INTEGER,
    body        BYTEA,
    location    TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (actor, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Every admin change, with the acting token's name, written in the same
-- transaction as the change itself.
CREATE TABLE audit_log (
    id        BIGSERIAL   PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT        NOT NULL,
    action    TEXT        NOT NULL,
    target_id BIGINT      NOT NULL,
    detail    TEXT        NOT NULL
);
