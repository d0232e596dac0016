-- +goose Up
-- The sender's reserved pacing slot (0: none). A paced row is given its slot once, as
-- its due time, and is sent when claimed at it.
ALTER TABLE outbox ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE lease_token <> '';

-- Relay instances and their last heartbeat: the leases of an instance that stops
-- heartbeating are released by the others within seconds.
CREATE TABLE relay_instances (
    owner        TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL,
    started_at   BIGINT NOT NULL
);

-- Each paced sender's next free slot, shared by every instance.
CREATE TABLE pacing (
    sender  TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL
);

-- Pruning walks these by age.
CREATE INDEX inbound_seen_age ON inbound_seen (seen_at);
CREATE INDEX idempotency_age ON idempotency (created_at);
CREATE INDEX early_receipts_age ON early_receipts (received_at);

-- +goose Down
DROP INDEX early_receipts_age;
DROP INDEX idempotency_age;
DROP INDEX inbound_seen_age;
DROP TABLE pacing;
DROP TABLE relay_instances;
DROP INDEX outbox_lease_owner;
ALTER TABLE outbox DROP COLUMN slot;
