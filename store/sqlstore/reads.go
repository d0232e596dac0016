package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
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
func (db *DB) Contacts(ctx context.Context, ch omnigate.Channel, prefix, after string, limit int) ([]omnigate.Contact, error) {
	p := likePrefix(prefix)
	rows, err := db.r.QueryContext(ctx, db.q.contacts, string(ch), string(ch), p, likePrefix(strings.ToLower(prefix)), after, limit)
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

// ClaimDue implements store.Store.
func (db *DB) ClaimDue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Entry, error) {
	var out []store.Entry
	err := db.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		out = out[:0]
		token := newToken()
		rows, err := t.query(db.q.claim, owner, token, micros(now.Add(lease)), micros(now), micros(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e store.Entry
			var created int64
			if err := rows.Scan(&e.ID, &e.Kind, &e.FIFOKey, &e.MessageID, &e.Payload, &e.Attempts, &created); err != nil {
				rows.Close()
				return err
			}
			e.CreatedAt = fromMicros(created)
			e.LeaseToken = token
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			e := &out[i]
			if e.Kind != store.KindDeliver || e.MessageID == "" {
				continue
			}
			if _, err := t.exec(db.q.markSending, micros(now), e.MessageID); err != nil {
				return err
			}
			var c omnigate.Conversation
			var opened, inbound, activity int64
			m, err := scanMessage(t.row(db.q.claimedMsgs, e.MessageID), convDest(&c, &opened, &inbound, &activity)...)
			if err != nil {
				return err
			}
			c.OpenedAt, c.LastInboundAt, c.LastActivityAt = fromMicros(opened), fromMicros(inbound), fromMicros(activity)
			e.Message, e.Conversation = &m, &c
		}
		return nil
	})
	// RETURNING gives no order guarantee; the relay wants oldest first.
	slices.SortFunc(out, func(a, b store.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

// Complete implements store.Store.
func (db *DB) Complete(ctx context.Context, results []store.Result, now time.Time) ([]error, error) {
	errs := make([]error, len(results))
	err := db.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		for i, r := range results {
			errs[i] = nil
			var res sql.Result
			var err error
			switch r.Outcome {
			case store.Done:
				res, err = t.exec(db.q.completeDone, r.EntryID, r.Token)
			case store.Retry:
				giveBack := 0
				if r.NoAttempt {
					giveBack = 1
				}
				res, err = t.exec(db.q.completeRetry, micros(r.RetryAt), r.Error, giveBack, r.EntryID, r.Token)
			case store.Dead:
				res, err = t.exec(db.q.completeDead, r.Error, r.EntryID, r.Token)
			default:
				return errors.New("store: unknown outcome")
			}
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				errs[i] = store.ErrLeaseLost
				continue
			}
			if r.MessageID != "" {
				if err := t.applyResult(r, now); err != nil {
					return err
				}
			}
			for _, e := range r.Events {
				if err := t.Enqueue(e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return errs, err
}

func (t *tx) applyResult(r store.Result, now time.Time) error {
	if r.Status == omnigate.StatusQueued {
		giveBack := 0
		if r.NoAttempt {
			giveBack = 1
		}
		_, err := t.exec(t.db.q.msgRequeue, giveBack, r.ErrorCode, r.ErrorMessage, micros(now), r.MessageID)
		return err
	}
	m, err := t.Message(r.MessageID)
	if err != nil {
		return err
	}
	status := r.Status
	// A carrier receipt may have overtaken the relay's own commit: keep the furthest.
	if m.Status.Rank() > status.Rank() && m.Status != omnigate.StatusSending {
		status = m.Status
	}
	_, err = t.exec(t.db.q.msgResult, string(status), r.ProviderMessageID, r.ProviderMessageID, r.ErrorCode, r.ErrorMessage, micros(now), r.MessageID)
	if err != nil || r.ProviderMessageID == "" {
		return err
	}
	return t.applyHeldReceipts(m, r.ProviderMessageID, now)
}

// Release implements store.Store.
func (db *DB) Release(ctx context.Context, owner string) error {
	return db.Update(ctx, func(stx store.Tx) error {
		_, err := stx.(*tx).exec(db.q.release, owner)
		return err
	})
}

// NextDue implements store.Store.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, db.q.nextDue).Scan(&v); err != nil {
		return time.Time{}, false, err
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(v.Int64), true, nil
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
	return db.Update(ctx, func(stx store.Tx) error {
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
