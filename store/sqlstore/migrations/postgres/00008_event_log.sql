-- +goose Up
-- Platform events leave the outbox for an append-only log: an event row is inserted
-- once and deleted once posted, with no claim, lease or result per row, and no outbox
-- index to keep. For one conversation, seq order is commit order: every transaction
-- that writes a conversation's events takes the conversation's (or the carrier
-- message id's) advisory lock before its first write.
CREATE TABLE event_log (
    seq        BIGSERIAL PRIMARY KEY,
    fifo_key   TEXT NOT NULL,
    payload    BYTEA,
    created_at BIGINT NOT NULL
);

-- Who posts the log: one relay instance at a time, while it is alive and its lease
-- runs.
CREATE TABLE event_dispatch (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    owner       TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0
);
INSERT INTO event_dispatch (id) VALUES (1);

-- +goose Down
-- Events still in the log go back to the outbox, so none is lost.
INSERT INTO outbox (kind, fifo_key, message_id, payload, due_at, created_at)
    SELECT 'event', fifo_key, '', payload, created_at, created_at FROM event_log ORDER BY seq;
DROP TABLE event_dispatch;
DROP TABLE event_log;
