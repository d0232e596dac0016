-- +goose Up
-- A claim, a heartbeat and a release change only lease and attempt columns: with no
-- index on them, and room left on each page, PostgreSQL updates the row in place (a
-- HOT update) instead of writing a new entry into every outbox index. The leases of
-- one owner are found by id (heartbeats) or by a scan of the pending rows (a release,
-- once per instance stop).
DROP INDEX outbox_lease_owner;
ALTER TABLE outbox SET (fillfactor = 50);

-- +goose Down
ALTER TABLE outbox RESET (fillfactor);
CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE lease_token <> '';
