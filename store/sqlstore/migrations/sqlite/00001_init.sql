-- +goose Up
CREATE TABLE contacts (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    name_lower TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);
CREATE INDEX contacts_name ON contacts (name_lower);

CREATE TABLE opt_outs (
    channel         TEXT NOT NULL,
    contact_address TEXT NOT NULL,
    our_address     TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (channel, contact_address, our_address)
);

CREATE TABLE conversations (
    id                    TEXT PRIMARY KEY,
    channel               TEXT NOT NULL,
    queue_id              TEXT NOT NULL,
    address               TEXT NOT NULL,
    contact_address       TEXT NOT NULL,
    contact_name          TEXT NOT NULL DEFAULT '',
    state                 TEXT NOT NULL,
    assigned_to           TEXT NOT NULL DEFAULT '',
    opened_at             INTEGER NOT NULL,
    last_inbound_at       INTEGER NOT NULL DEFAULT 0,
    last_activity_at      INTEGER NOT NULL,
    replies_since_inbound INTEGER NOT NULL DEFAULT 0,
    wrapup_code           TEXT NOT NULL DEFAULT '',
    wrapup_notes          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at);
CREATE INDEX conversations_contact ON conversations (channel, contact_address, last_activity_at);

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    conversation_id     TEXT NOT NULL,
    direction           TEXT NOT NULL,
    channel             TEXT NOT NULL,
    queue_id            TEXT NOT NULL,
    from_address        TEXT NOT NULL,
    to_address          TEXT NOT NULL,
    body                TEXT NOT NULL DEFAULT '',
    template            TEXT NOT NULL DEFAULT '',
    media               TEXT NOT NULL DEFAULT '',
    sender              TEXT NOT NULL DEFAULT '',
    principal_id        TEXT NOT NULL DEFAULT '',
    tag                 TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    provider_message_id TEXT NOT NULL DEFAULT '',
    error_code          TEXT NOT NULL DEFAULT '',
    error_message       TEXT NOT NULL DEFAULT '',
    deleted             INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_provider ON messages (channel, provider_message_id) WHERE provider_message_id <> '';
CREATE INDEX messages_queue ON messages (queue_id, created_at) WHERE direction = 'outbound';

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    fifo_key    TEXT NOT NULL,
    message_id  TEXT NOT NULL DEFAULT '',
    payload     BLOB,
    status      TEXT NOT NULL DEFAULT 'pending',
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_token TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at, id) WHERE status = 'pending';
CREATE INDEX outbox_fifo ON outbox (fifo_key, id) WHERE status = 'pending';
CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id <> '';

CREATE TABLE idempotency (
    principal_id TEXT NOT NULL,
    key          TEXT NOT NULL,
    body_hash    TEXT NOT NULL,
    done         INTEGER NOT NULL DEFAULT 0,
    code         INTEGER NOT NULL DEFAULT 0,
    response     BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal_id, key)
);

CREATE TABLE inbound_seen (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    seen_at             INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_message_id)
);

-- +goose Down
DROP TABLE inbound_seen;
DROP TABLE idempotency;
DROP TABLE outbox;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE opt_outs;
DROP TABLE contacts;
