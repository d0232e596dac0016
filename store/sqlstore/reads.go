package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// Message implements store.Store.
func (db *DB) Message(ctx context.Context, id string) (omnigate.Message, error) {
	return scanMessage(db.r.QueryRowContext(ctx, db.q.msg, id))
}

// Conversation implements store.Store.
func (db *DB) Conversation(ctx context.Context, id string) (omnigate.Conversation, error) {
	return scanConversation(db.r.QueryRowContext(ctx, db.q.conv, id))
}

// ConversationMessages implements store.Store.
func (db *DB) ConversationMessages(ctx context.Context, id string) ([]omnigate.Message, error) {
	rows, err := db.r.QueryContext(ctx, db.q.convMsgs, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []omnigate.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Conversations implements store.Store.
func (db *DB) Conversations(ctx context.Context, ch omnigate.Channel, contactAddress string, limit int) ([]omnigate.Conversation, error) {
	rows, err := db.r.QueryContext(ctx, db.q.convsOfContact, string(ch), contactAddress, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []omnigate.Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// likePrefix escapes s for a LIKE prefix match.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// Contacts implements store.Store.
func (db *DB) Contacts(ctx context.Context, ch omnigate.Channel, prefix, after string, queues []string, limit int) ([]omnigate.Contact, error) {
	p := likePrefix(prefix)
	all := 0
	if queues == nil {
		all, queues = 1, []string{}
	}
	list, err := json.Marshal(queues)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, db.q.contacts, string(ch), string(ch), p, likePrefix(strings.ToLower(prefix)), after,
		all, string(list), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []omnigate.Contact{}
	for rows.Next() {
		var c omnigate.Contact
		var updated int64
		if err := rows.Scan(&c.Channel, &c.Address, &c.Name, &updated); err != nil {
			return nil, err
		}
		c.UpdatedAt = fromMicros(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// QueueStats implements store.Store.
func (db *DB) QueueStats(ctx context.Context, queueID string, since time.Time) ([]store.QueueStat, error) {
	rows, err := db.r.QueryContext(ctx, db.q.queueStat, queueID, micros(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.QueueStat{}
	for rows.Next() {
		var ch, status string
		var n int
		if err := rows.Scan(&ch, &status, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || string(out[len(out)-1].Channel) != ch {
			out = append(out, store.QueueStat{Channel: omnigate.Channel(ch), Counts: map[string]int{}})
		}
		out[len(out)-1].Counts[status] = n
	}
	return out, rows.Err()
}

// Outbox implements store.Store.
func (db *DB) Outbox(ctx context.Context, status string, after int64, limit int) ([]store.OutboxRow, error) {
	rows, err := db.r.QueryContext(ctx, db.q.outboxList, status, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.OutboxRow{}
	for rows.Next() {
		var r store.OutboxRow
		var due, created int64
		if err := rows.Scan(&r.ID, &r.Kind, &r.Status, &r.MessageID, &r.FIFOKey, &r.Attempts, &due, &r.LastError, &created); err != nil {
			return nil, err
		}
		r.DueAt, r.CreatedAt = fromMicros(due), fromMicros(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

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
		if err := db.d.notifyInTx(t.ctx, t.tx); err != nil {
			return err
		}
		if msgID != "" {
			_, err := t.exec(db.q.retryDeadMsg, micros(now), msgID)
			return err
		}
		return nil
	})
}

// OutboxStats implements store.Store.
func (db *DB) OutboxStats(ctx context.Context, now time.Time) (store.OutboxStats, error) {
	var s store.OutboxStats
	if err := db.r.QueryRowContext(ctx, db.q.statsPending).Scan(&s.Pending); err != nil {
		return s, err
	}
	if err := db.r.QueryRowContext(ctx, db.q.statsDead).Scan(&s.Dead); err != nil {
		return s, err
	}
	var oldest sql.NullInt64
	if err := db.r.QueryRowContext(ctx, db.q.statsOldest, micros(now)).Scan(&oldest); err != nil {
		return s, err
	}
	if oldest.Valid {
		s.OldestDueAge = now.Sub(fromMicros(oldest.Int64))
	}
	return s, nil
}
