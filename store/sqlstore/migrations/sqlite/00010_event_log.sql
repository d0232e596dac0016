-- +goose Up
-- Platform events leave the outbox for an append-only log: an event row is inserted
-- once and deleted once posted, with no claim, lease or result per row, and no outbox
-- index to keep. Rows go in seq order, which on SQLite's one writer is commit order.
CREATE TABLE event_log (
    seq        INTEGER PRIMARY KEY,
    fifo_key   TEXT NOT NULL,
    payload    BLOB,
    created_at INTEGER NOT NULL
);

-- Who posts the log: one relay instance at a time, while it is alive and its lease
-- runs.
CREATE TABLE event_dispatch (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    owner       TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0
);
INSERT INTO event_dispatch (id) VALUES (1);

-- +goose Down
-- Events still in the log go back to the outbox, so none is lost.
INSERT INTO outbox (kind, fifo_key, message_id, payload, due_at, created_at)
    SELECT 'event', fifo_key, '', payload, created_at, created_at FROM event_log ORDER BY seq;
DROP TABLE event_dispatch;
DROP TABLE event_log;
