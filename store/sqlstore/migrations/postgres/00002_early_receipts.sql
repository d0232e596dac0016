-- +goose Up
-- Receipts that arrive before the relay has recorded the carrier's message id (the
-- carrier answered, and its webhook overtook our commit). They are applied when the id
-- is recorded.
CREATE TABLE early_receipts (
    channel             TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    error_code          TEXT NOT NULL DEFAULT '',
    error_message       TEXT NOT NULL DEFAULT '',
    received_at         BIGINT NOT NULL,
    PRIMARY KEY (channel, provider_message_id, status)
);

-- +goose Down
DROP TABLE early_receipts;
