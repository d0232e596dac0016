package sqlstore

import (
	"database/sql"
	"errors"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

const (
	setAliasSQL = `INSERT INTO contact_aliases (channel, alias, address, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (channel, alias) DO UPDATE SET address = excluded.address, updated_at = excluded.updated_at`
	aliasSQL = `SELECT address FROM contact_aliases WHERE channel = ? AND alias = ?`
)

// AliasContact implements store.Tx.
func (t *tx) AliasContact(ch omnigate.Channel, alias, address string, now time.Time) error {
	_, err := t.exec(t.db.d.rebind(setAliasSQL), string(ch), alias, address, micros(now))
	return err
}

// ContactByAlias implements store.Tx.
func (t *tx) ContactByAlias(ch omnigate.Channel, alias string) (string, error) {
	var address string
	err := t.row(t.db.d.rebind(aliasSQL), string(ch), alias).Scan(&address)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return address, err
}
