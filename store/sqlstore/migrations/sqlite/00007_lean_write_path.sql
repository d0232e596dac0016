-- +goose Up
-- The write path touches fewer B-trees per message.
--
-- Contacts, conversations and the inbound dedupe keys are stored in their primary key
-- (WITHOUT ROWID): their rows are small, and a rowid table keeps each row twice over,
-- in the table and in the index of its text key, so every insert wrote one B-tree
-- more and every update by key searched two.
--
-- The leases of one owner are no longer indexed: the index gained and lost an entry
-- with every claim, and is only needed to release an owner's leases when it stops
-- (a scan of the pending rows instead).
DROP INDEX outbox_lease_owner;

CREATE TABLE inbound_seen_new (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    seen_at             INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_message_id)
) WITHOUT ROWID;
INSERT INTO inbound_seen_new SELECT provider, provider_message_id, seen_at FROM inbound_seen;
DROP TABLE inbound_seen;
ALTER TABLE inbound_seen_new RENAME TO inbound_seen;
CREATE INDEX inbound_seen_age ON inbound_seen (seen_at);

CREATE TABLE contacts_new (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    name_lower TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;
INSERT INTO contacts_new SELECT channel, address, name, name_lower, updated_at FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_new RENAME TO contacts;
CREATE INDEX contacts_name ON contacts (name_lower);

CREATE TABLE conversations_new (
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
) WITHOUT ROWID;
INSERT INTO conversations_new SELECT id, channel, queue_id, address, contact_address, contact_name, state, assigned_to,
    opened_at, last_inbound_at, last_activity_at, replies_since_inbound, wrapup_code, wrapup_notes FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_new RENAME TO conversations;
CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at);
CREATE INDEX conversations_contact ON conversations (channel, contact_address, last_activity_at);
CREATE INDEX conversations_activity ON conversations (last_activity_at);

-- +goose Down
CREATE TABLE conversations_old (
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
INSERT INTO conversations_old SELECT id, channel, queue_id, address, contact_address, contact_name, state, assigned_to,
    opened_at, last_inbound_at, last_activity_at, replies_since_inbound, wrapup_code, wrapup_notes FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_old RENAME TO conversations;
CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at);
CREATE INDEX conversations_contact ON conversations (channel, contact_address, last_activity_at);
CREATE INDEX conversations_activity ON conversations (last_activity_at);

CREATE TABLE contacts_old (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    name_lower TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);
INSERT INTO contacts_old SELECT channel, address, name, name_lower, updated_at FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_old RENAME TO contacts;
CREATE INDEX contacts_name ON contacts (name_lower);

CREATE TABLE inbound_seen_old (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    seen_at             INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_message_id)
);
INSERT INTO inbound_seen_old SELECT provider, provider_message_id, seen_at FROM inbound_seen;
DROP TABLE inbound_seen;
ALTER TABLE inbound_seen_old RENAME TO inbound_seen;
CREATE INDEX inbound_seen_age ON inbound_seen (seen_at);

CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE lease_token <> '';
