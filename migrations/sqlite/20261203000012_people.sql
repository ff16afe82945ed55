-- People: users with roles, their sessions, one-time password links, and
-- roles on API tokens (server/src/domain/people.rs).
--
-- A user's name and a token's name are both what the audit log records as
-- its actor; the store refuses a user name a token has, and the reverse,
-- so an actor names exactly one of them.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    -- Argon2id in the PHC string format; NULL until a password is set.
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

-- Console sessions: only the SHA-256 of the cookie's value is stored.
-- A session ends when revoked (sign-out, disabling, a password reset),
-- when idle too long (last_seen_at) or at expires_at, whichever is first.
CREATE TABLE sessions (
    id_hash      BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Sent back with every state-changing form of the console.
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

-- One-time links that set a password (`upbeat user create` without
-- --password-stdin, `upbeat user reset-password`): the SHA-256 of the
-- link's token, used once, before expires_at.
CREATE TABLE password_links (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Tokens made before roles existed keep what they could do: everything.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
    CHECK (role IN ('viewer', 'editor', 'admin'));

CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_at ON audit_log (at);
