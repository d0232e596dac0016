package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// ReplaceTemplates implements store.Store: the old catalogue goes and the new one
// comes in one transaction, so a reader sees one or the other.
func (db *DB) ReplaceTemplates(ctx context.Context, ch omnigate.Channel, address string, ts []store.Template, now time.Time) error {
	r := db.d.rebind
	return db.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		if _, err := t.exec(r(`DELETE FROM templates WHERE channel = ? AND address = ?`), string(ch), address); err != nil {
			return err
		}
		ins := r(`INSERT INTO templates (channel, address, name, language, category, status, body, variables, provider_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, address, name, language) DO NOTHING`)
		for _, tm := range ts {
			vars := tm.Variables
			if vars == nil {
				vars = []string{}
			}
			b, err := json.Marshal(vars)
			if err != nil {
				return err
			}
			if _, err := t.exec(ins, string(ch), address, tm.Name, tm.Language, tm.Category, tm.Status, tm.Body,
				string(b), tm.ProviderID); err != nil {
				return err
			}
		}
		_, err := t.exec(r(`INSERT INTO template_syncs (channel, address, synced_at) VALUES (?, ?, ?)
			ON CONFLICT (channel, address) DO UPDATE SET synced_at = excluded.synced_at`), string(ch), address, micros(now))
		return err
	})
}

// Templates implements store.Store.
func (db *DB) Templates(ctx context.Context, ch omnigate.Channel, address string) (store.TemplateSet, error) {
	r := db.d.rebind
	set := store.TemplateSet{Channel: ch, Address: address, Templates: []store.Template{}}
	var synced int64
	err := db.r.QueryRowContext(ctx, r(`SELECT synced_at FROM template_syncs WHERE channel = ? AND address = ?`),
		string(ch), address).Scan(&synced)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return set, err
	default:
		set.SyncedAt = fromMicros(synced)
	}
	rows, err := db.r.QueryContext(ctx, r(`SELECT name, language, category, status, body, variables, provider_id
		FROM templates WHERE channel = ? AND address = ? ORDER BY name, language`), string(ch), address)
	if err != nil {
		return set, err
	}
	defer rows.Close()
	for rows.Next() {
		var tm store.Template
		var vars string
		if err := rows.Scan(&tm.Name, &tm.Language, &tm.Category, &tm.Status, &tm.Body, &vars, &tm.ProviderID); err != nil {
			return set, err
		}
		if err := json.Unmarshal([]byte(vars), &tm.Variables); err != nil {
			return set, fmt.Errorf("template %s/%s: variables: %w", tm.Name, tm.Language, err)
		}
		set.Templates = append(set.Templates, tm)
	}
	return set, rows.Err()
}
