-- +goose Up
-- Every send writes these B-trees, so SQLite keeps only the indexes its queries read.
--
-- outbox_message was never read on SQLite: its partial predicate (message_id <> '')
-- is not implied by a query's message_id = ?, so the planner cannot use it, and the
-- cancel and retention statements walk outbox_fifo or the table instead. It still
-- gained and lost an entry with every delivery row.
DROP INDEX outbox_message;

-- contacts_name was never read on SQLite either: the contact search matches
-- name_lower with a case-insensitive LIKE on a BINARY column, OR-ed with the address,
-- which SQLite answers with a scan of contacts whatever the index. It gained an entry
-- with every new contact and changed with every name.
DROP INDEX contacts_name;

-- The latest conversation of a key is ordered by last activity, then by opening: with
-- opened_at in the index the read of every send stops at the first entry instead of
-- sorting the key's conversations.
DROP INDEX conversations_key;
CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at, opened_at);

-- +goose Down
DROP INDEX conversations_key;
CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at);
CREATE INDEX contacts_name ON contacts (name_lower);
CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id <> '';
