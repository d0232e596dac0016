package sqlstore

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/omnigate/omnigate/store"
)

// The event log's statements, rebound once at open.
type eventLogQueries struct {
	lease, extend, release, read, behind, done string
}

func buildEventLogQueries(d dialect) eventLogQueries {
	r := d.rebind
	return eventLogQueries{
		// Free: nobody holds it, its holder let it end, or its holder is no live relay
		// instance (heartbeats reap those from relay_instances).
		lease: r(`UPDATE event_dispatch SET owner = ?, lease_until = ? WHERE id = 1 AND (owner = ? OR owner = '' OR lease_until <= ?
			OR NOT EXISTS (SELECT 1 FROM relay_instances i WHERE i.owner = event_dispatch.owner))`),
		extend:  r(`UPDATE event_dispatch SET lease_until = ? WHERE id = 1 AND owner = ?`),
		release: r(`UPDATE event_dispatch SET owner = '', lease_until = 0 WHERE id = 1 AND owner = ?`),
		read:    r(`SELECT seq, fifo_key, payload, created_at FROM event_log ORDER BY seq LIMIT ?`),
		behind:  r(`SELECT DISTINCT fifo_key FROM outbox WHERE status = 'pending' AND fifo_key IN (` + d.textList() + `)`),
		done:    r(`DELETE FROM event_log WHERE seq IN (` + d.idList() + `)`),
	}
}

// LeaseEvents implements store.Store.
func (db *DB) LeaseEvents(ctx context.Context, l store.EventLease) (bool, error) {
	var ok bool
	err := db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		res, err := t.exec(db.ev.lease, l.Owner, micros(l.Until), l.Owner, micros(l.Now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ReadEvents implements store.Store. It reads on a reader connection: on SQLite the
// writer only appends and deletes.
func (db *DB) ReadEvents(ctx context.Context, limit int) (store.EventBatch, error) {
	var b store.EventBatch
	rows, err := db.r.QueryContext(ctx, db.ev.read, limit)
	if err != nil {
		return b, err
	}
	defer rows.Close()
	for rows.Next() {
		var e store.LoggedEvent
		var created int64
		if err := rows.Scan(&e.Seq, &e.FIFOKey, &e.Payload, &created); err != nil {
			return b, err
		}
		e.CreatedAt = fromMicros(created)
		b.Events = append(b.Events, e)
	}
	if err := rows.Err(); err != nil || len(b.Events) == 0 {
		return b, err
	}
	rows.Close()
	keys := make([]string, 0, len(b.Events))
	for _, e := range b.Events {
		keys = append(keys, e.FIFOKey)
	}
	slices.Sort(keys)
	arg, err := json.Marshal(slices.Compact(keys))
	if err != nil {
		return b, err
	}
	behind, err := db.r.QueryContext(ctx, db.ev.behind, string(arg))
	if err != nil {
		return b, err
	}
	defer behind.Close()
	for behind.Next() {
		var k string
		if err := behind.Scan(&k); err != nil {
			return b, err
		}
		if b.Behind == nil {
			b.Behind = map[string]bool{}
		}
		b.Behind[k] = true
	}
	return b, behind.Err()
}

// FinishEvents implements store.Store.
func (db *DB) FinishEvents(ctx context.Context, d store.EventsDone) error {
	return db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		res, err := t.exec(db.ev.extend, micros(d.LeaseUntil), d.Owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrLeaseLost
		}
		seqs := slices.Clone(d.Done)
		spill := make([]store.NewEntry, 0, len(d.Spill))
		for _, s := range d.Spill {
			seqs = append(seqs, s.Seq)
			s.Entry.Kind = store.KindEvent
			spill = append(spill, s.Entry)
		}
		if len(seqs) > 0 {
			if _, err := t.exec(db.ev.done, db.d.idListArg(seqs)); err != nil {
				return err
			}
		}
		return t.enqueueOutbox(spill)
	})
}
