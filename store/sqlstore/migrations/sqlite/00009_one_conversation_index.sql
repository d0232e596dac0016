-- +goose Up
-- One index of conversations by contact serves both the latest conversation of a key
-- (channel, our address, the contact's) and a contact's conversations: with the
-- contact's address before ours, the equality on the key's three columns still stops
-- at the last entry, and the reads by contact alone (a contact's list, the contact
-- search, an erasure) use its first two columns. Every new conversation, and every
-- change of its last activity, wrote one index less.
DROP INDEX conversations_contact;
DROP INDEX conversations_key;
CREATE INDEX conversations_key ON conversations (channel, contact_address, address, last_activity_at, opened_at);

-- +goose Down
DROP INDEX conversations_key;
CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at, opened_at);
CREATE INDEX conversations_contact ON conversations (channel, contact_address, last_activity_at);
