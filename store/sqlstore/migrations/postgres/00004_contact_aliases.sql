-- +goose Up
-- Another id a carrier gives a contact known by its address: a WhatsApp user's
-- business-scoped user id beside the phone number. A message that comes with the id
-- alone (the carrier withholds the number) is threaded, and its opt-outs honoured, on
-- the address.
CREATE TABLE contact_aliases (
    channel    TEXT NOT NULL,
    alias      TEXT NOT NULL,
    address    TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel, alias)
);

-- +goose Down
DROP TABLE contact_aliases;
