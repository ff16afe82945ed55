-- Subscribers (SPEC "People"): visitors who follow incidents and
-- maintenance by email (double opt-in), and webhook or Slack destinations
-- an admin adds. Personal data kept: the address, the services followed,
-- when it subscribed and confirmed, and whether mail to it was refused.
-- Removing a subscriber deletes the row and, by cascade, everything sent
-- to it; nothing else about a visitor (no client address) is stored.
CREATE TABLE subscribers (
    id                  BIGSERIAL PRIMARY KEY,
    -- email | webhook | slack
    kind                TEXT    NOT NULL CHECK (kind IN ('email', 'webhook', 'slack')),
    -- A lowercased email address, or the destination's URL.
    address             TEXT    NOT NULL,
    -- pending (not confirmed yet) | confirmed | rejected (the mail server
    -- refused the address for good: nothing more is sent to it)
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    -- Follows every service; else those in subscriber_services.
    all_services        BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    rejected_reason     TEXT,
    -- Confirmation (and manage-link) mails sent on day mails_day (days
    -- since the epoch): at most a few a day per address.
    mails_day           BIGINT  NOT NULL DEFAULT 0,
    mails_sent          BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (kind, address)
);
CREATE INDEX subscribers_status ON subscribers (status, id);

-- The services a subscriber follows, by slug (a service that leaves the
-- config and comes back keeps its followers).
CREATE TABLE subscriber_services (
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    slug          TEXT    NOT NULL,
    PRIMARY KEY (subscriber_id, slug)
);
CREATE INDEX subscriber_services_slug ON subscriber_services (slug);

-- What is sent to subscribers, one row per recipient: the confirmation
-- and manage-link mails (event_id NULL, written with the subscription)
-- and each event's notification (written when the leader fans the event
-- out, in one transaction with marking the event). Delivered from here,
-- with retries: a crash loses none (a mail whose outcome was not stored is
-- sent again once its claim runs out).
CREATE TABLE subscriber_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    -- confirm | manage | event
    purpose         TEXT    NOT NULL CHECK (purpose IN ('confirm', 'manage', 'event')),
    event_id        BIGINT REFERENCES alert_events (id) ON DELETE CASCADE,
    -- pending | delivered | failed
    status          TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    last_error      TEXT,
    UNIQUE (subscriber_id, event_id)
);
CREATE INDEX subscriber_deliveries_due ON subscriber_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX subscriber_deliveries_subscriber ON subscriber_deliveries (subscriber_id);
CREATE INDEX subscriber_deliveries_finished ON subscriber_deliveries (finished_at);

-- Whether an event still waits to be fanned out to subscribers: NULL
-- until then. Events subscribers never get (status changes, burn alerts,
-- tests) and updates posted with notify: false are written already done.
ALTER TABLE alert_events ADD COLUMN subscribers_at TIMESTAMPTZ;
UPDATE alert_events SET subscribers_at = created_at;
CREATE INDEX alert_events_fan_out ON alert_events (id) WHERE subscribers_at IS NULL;

-- Keys the replicas share: the key that signs subscribers' links, made
-- once at the first start unless [subscribers] secret gives one.
CREATE TABLE signing_keys (
    name       TEXT    PRIMARY KEY,
    secret     TEXT    NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
