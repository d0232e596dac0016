-- +goose Up
-- Inbound attachments as omnigate serves them at /v1/media/{id}: where the carrier keeps
-- the bytes (a URL or a carrier media id), never the bytes themselves. An ephemeral row
-- (an Instagram story mention) has no locator: its link is held in memory only.
CREATE TABLE media (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,
    locator         TEXT NOT NULL DEFAULT '',
    content_type    TEXT NOT NULL DEFAULT '',
    ephemeral       INTEGER NOT NULL DEFAULT 0,
    expires_at      BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX media_conversation ON media (conversation_id);

-- +goose Down
DROP TABLE media;
