package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/omnigate/omnigate/store"
)

// Writes outside a caller's transaction (the operators' replay of a dead letter) live
// here, not with the reads.

// RetryDead implements store.Store.
func (db *DB) RetryDead(ctx context.Context, id int64, now time.Time) error {
	return db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		var msgID string
		if err := t.row(db.q.retryDead, micros(now), id).Scan(&msgID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		t.enqueued = true
		if err := db.d.notifyInTx(t.ctx, t.tx, db.self); err != nil {
			return err
		}
		if msgID != "" {
			_, err := t.exec(db.q.retryDeadMsg, micros(now), msgID)
			return err
		}
		return nil
	})
}
