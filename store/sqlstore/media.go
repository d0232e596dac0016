package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/omnigate/omnigate/store"
)

const mediaCols = `id, conversation_id, message_id, channel, address, locator, content_type, ephemeral, expires_at, created_at`

// InsertMedia implements store.Tx.
func (t *tx) InsertMedia(m store.MediaRef) error {
	eph := 0
	if m.Ephemeral {
		eph = 1
	}
	_, err := t.exec(t.db.d.rebind(`INSERT INTO media (`+mediaCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, m.ConversationID, m.MessageID, string(m.Channel), m.Address, m.Locator, m.ContentType, eph,
		micros(m.ExpiresAt), micros(m.CreatedAt))
	return err
}

// Media implements store.Store.
func (db *DB) Media(ctx context.Context, id string) (store.MediaRef, error) {
	var m store.MediaRef
	var eph int
	var expires, created int64
	err := db.r.QueryRowContext(ctx, db.d.rebind(`SELECT `+mediaCols+` FROM media WHERE id = ?`), id).Scan(
		&m.ID, &m.ConversationID, &m.MessageID, &m.Channel, &m.Address, &m.Locator, &m.ContentType, &eph, &expires, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return m, store.ErrNotFound
	}
	if err != nil {
		return m, err
	}
	m.Ephemeral, m.ExpiresAt, m.CreatedAt = eph == 1, fromMicros(expires), fromMicros(created)
	return m, nil
}
