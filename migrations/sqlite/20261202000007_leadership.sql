-- Who probes and decides, in one row. A replica leads while its lease has
-- not expired (or while nobody else took it); a takeover by another
-- replica raises the epoch, and every writer round checks holder and epoch
-- in its own transaction (fencing): a former leader that comes back stores
-- its samples, but no states or incident changes. Times are Unix ms.
CREATE TABLE leadership (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    epoch      INTEGER NOT NULL,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO leadership (id, epoch, holder, expires_at) VALUES (1, 0, '', 0);
