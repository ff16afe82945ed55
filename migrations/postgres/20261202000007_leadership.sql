-- Who probes and decides, in one row. A replica leads while its lease has
-- not expired (or while nobody else took it); a takeover by another
-- replica raises the epoch, and every writer round checks holder and epoch
-- in its own transaction (fencing): a former leader that comes back stores
-- its samples, but no states or incident changes. This replaces the
-- session advisory lock, which a partitioned leader's dead session could
-- hold until TCP keepalives gave up.
CREATE TABLE leadership (
    id         SMALLINT    PRIMARY KEY CHECK (id = 1),
    epoch      BIGINT      NOT NULL,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO leadership (id, epoch, holder, expires_at) VALUES (1, 0, '', '1970-01-01T00:00:00Z');
