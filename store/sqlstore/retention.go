package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// redactedFlag is the messages.deleted value of a tombstone left by retention or an
// erasure (1 is an unsend by the contact).
const redactedFlag = 2

// redactSet is the SET clause that turns a message into a tombstone: text and media
// references go, a template keeps its name and language but loses its variables
// (they carry the contact's data).
func (db *DB) redactSet() string {
	strip := `json_remove(template, '$.variables')`
	if db.d.name() == "postgres" {
		strip = `(template::jsonb - 'variables')::text`
	}
	return `body = '', media = '', template = CASE WHEN template = '' THEN '' ELSE ` + strip + ` END, deleted = 2, updated_at = ?`
}

// pruneBodies tombstones up to limit messages created before cut that no worker may
// still send, and returns how many.
func (t *tx) pruneBodies(cut, now time.Time, limit int) (int, error) {
	res, err := t.exec(t.db.d.rebind(`UPDATE messages SET `+t.db.redactSet()+` WHERE id IN
		(SELECT id FROM messages WHERE created_at < ? AND deleted <> 2 AND status NOT IN ('queued', 'sending') LIMIT ?)`),
		micros(now), micros(cut), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// pruneMedia deletes up to limit media references created before cut: the bodies they
// belong to are tombstoned by the same cut, and /v1/media/{id} answers 404 after.
func (t *tx) pruneMedia(cut time.Time, limit int) (int, error) {
	res, err := t.exec(t.db.d.rebind(`DELETE FROM media WHERE id IN
		(SELECT id FROM media WHERE created_at < ? LIMIT ?)`), micros(cut), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// pruneConversations deletes up to limit conversations whose last activity is before
// cut, with their messages, skipping any the outbox still has a row for. It returns
// how many conversations and messages went.
func (t *tx) pruneConversations(cut time.Time, limit int) (int, error) {
	r := t.db.d.rebind
	ids, err := column[string](t, r(`SELECT c.id FROM conversations c WHERE c.last_activity_at < ?
		AND NOT EXISTS (SELECT 1 FROM messages m JOIN outbox o ON o.message_id = m.id WHERE m.conversation_id = c.id)
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.fifo_key = 'ev:' || c.id AND o.status = 'pending')
		ORDER BY c.last_activity_at LIMIT ?`), micros(cut), limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	list := jsonArg(ids)
	if _, err := t.exec(r(`DELETE FROM media WHERE conversation_id IN (`+t.db.d.textList()+`)`), list); err != nil {
		return 0, err
	}
	res, err := t.exec(r(`DELETE FROM messages WHERE conversation_id IN (`+t.db.d.textList()+`)`), list)
	if err != nil {
		return 0, err
	}
	msgs, _ := res.RowsAffected()
	if _, err := t.exec(r(`DELETE FROM conversations WHERE id IN (`+t.db.d.textList()+`)`), list); err != nil {
		return 0, err
	}
	return len(ids) + int(msgs), nil
}

// pruneRetention applies the retention cut-offs of p in batches of p.Limit, each its
// own short transaction.
func (db *DB) pruneRetention(ctx context.Context, p store.Prune) (int, error) {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	total := 0
	jobs := []struct {
		cut time.Time
		fn  func(t *tx) (int, error)
		// done reports whether the batch was the last: fewer rows than the limit.
		last func(n int) bool
	}{
		{p.BodiesBefore, func(t *tx) (int, error) { return t.pruneBodies(p.BodiesBefore, now, p.Limit) },
			func(n int) bool { return n < p.Limit }},
		{p.BodiesBefore, func(t *tx) (int, error) { return t.pruneMedia(p.BodiesBefore, p.Limit) },
			func(n int) bool { return n < p.Limit }},
		{p.ConversationsBefore, func(t *tx) (int, error) { return t.pruneConversations(p.ConversationsBefore, p.Limit) },
			func(n int) bool { return n == 0 }},
	}
	for _, job := range jobs {
		if job.cut.IsZero() {
			continue
		}
		for {
			var n int
			err := db.own(ctx, func(stx store.Tx) error {
				var err error
				n, err = job.fn(stx.(*tx))
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if job.last(n) {
				break
			}
		}
	}
	return total, nil
}

// EraseContact implements store.Tx.
func (t *tx) EraseContact(ch omnigate.Channel, address string, now time.Time) (store.Erasure, error) {
	r := t.db.d.rebind
	var out store.Erasure
	_, cerr := t.Contact(ch, address)
	if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
		return out, cerr
	}
	var err error
	out.Conversations, err = column[string](t, r(`SELECT id FROM conversations WHERE channel = ? AND contact_address = ? ORDER BY opened_at, id`),
		string(ch), address)
	if err != nil {
		return out, err
	}
	if cerr != nil && len(out.Conversations) == 0 {
		return out, store.ErrNotFound
	}
	if _, err := t.exec(r(`UPDATE contacts SET name = '', name_lower = '', updated_at = ? WHERE channel = ? AND address = ?`),
		micros(now), string(ch), address); err != nil {
		return out, err
	}
	for _, id := range out.Conversations {
		ids, err := t.CancelQueued(id, "", now)
		if err != nil {
			return out, err
		}
		out.Canceled = append(out.Canceled, ids...)
	}
	if _, err := t.exec(r(`UPDATE conversations SET contact_name = '', wrapup_notes = '' WHERE channel = ? AND contact_address = ?`),
		string(ch), address); err != nil {
		return out, err
	}
	if _, err := t.exec(r(`DELETE FROM media WHERE conversation_id IN
		(SELECT id FROM conversations WHERE channel = ? AND contact_address = ?)`), string(ch), address); err != nil {
		return out, err
	}
	res, err := t.exec(r(`UPDATE messages SET `+t.db.redactSet()+` WHERE conversation_id IN
		(SELECT id FROM conversations WHERE channel = ? AND contact_address = ?)`), micros(now), string(ch), address)
	if err != nil {
		return out, err
	}
	n, err := res.RowsAffected()
	out.Messages = int(n)
	return out, err
}
