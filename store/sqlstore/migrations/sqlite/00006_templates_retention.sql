-- +goose Up
-- Each of our addresses' message templates as the carrier last reported them.
CREATE TABLE templates (
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    category    TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '',
    variables   TEXT NOT NULL DEFAULT '[]',
    provider_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (channel, address, name, language)
);

-- When each address's catalogue was last synced: an address synced with no templates
-- is known to have none.
CREATE TABLE template_syncs (
    channel   TEXT NOT NULL,
    address   TEXT NOT NULL,
    synced_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Retention walks messages not yet tombstoned (deleted 2) by age, and conversations
-- by last activity.
CREATE INDEX messages_retention ON messages (created_at) WHERE deleted <> 2;
CREATE INDEX conversations_activity ON conversations (last_activity_at);

-- +goose Down
DROP INDEX conversations_activity;
DROP INDEX messages_retention;
DROP TABLE template_syncs;
DROP TABLE templates;
