package sqlstore

import (
	"context"
	"errors"
	"slices"

	"github.com/omnigate/omnigate/store"
)

// The event log's statements, rebound once at open.
type eventLogQueries struct {
	lease, extend, release, read, done, finish, spill string
}

func buildEventLogQueries(d dialect) eventLogQueries {
	r := d.rebind
	q := eventLogQueries{
		// Free: nobody holds it, its holder let it end, or its holder is no live relay
		// instance (heartbeats reap those from relay_instances).
		lease: r(`UPDATE event_dispatch SET owner = ?, lease_until = ? WHERE id = 1 AND (owner = ? OR owner = '' OR lease_until <= ?
			OR NOT EXISTS (SELECT 1 FROM relay_instances i WHERE i.owner = event_dispatch.owner))`),
		extend:  r(`UPDATE event_dispatch SET lease_until = ? WHERE id = 1 AND owner = ?`),
		release: r(`UPDATE event_dispatch SET owner = '', lease_until = 0 WHERE id = 1 AND owner = ?`),
		// Each event with whether its key has pending outbox rows: a probe of
		// outbox_fifo per event, in the same statement.
		read: r(`SELECT e.seq, e.fifo_key, e.payload, e.created_at,
			CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.fifo_key = e.fifo_key AND o.status = 'pending') THEN 1 ELSE 0 END
			FROM event_log e ORDER BY e.seq LIMIT ?`),
		done: r(`DELETE FROM event_log WHERE seq IN (` + d.idList() + `)`),
		// One event moving to the outbox, with its failed attempt's outcome; rare.
		spill: r(`INSERT INTO outbox (kind, fifo_key, message_id, payload, status, due_at, attempts, last_error, created_at)
			VALUES ('event', ?, '', ?, ?, ?, ?, ?, ?)`),
	}
	if d.combinedWrites() {
		// A batch with nothing to spill: the lease's check and extension and the delete
		// in one statement, one round trip. It answers whether the lease held; the
		// delete runs only then.
		q.finish = r(`WITH lease AS (UPDATE event_dispatch SET lease_until = ? WHERE id = 1 AND owner = ? RETURNING 1),
			gone AS (DELETE FROM event_log WHERE seq IN (` + d.idList() + `) AND EXISTS (SELECT 1 FROM lease))
			SELECT count(*) FROM lease`)
	}
	return q
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
		var created, behind int64
		if err := rows.Scan(&e.Seq, &e.FIFOKey, &e.Payload, &created, &behind); err != nil {
			return b, err
		}
		e.CreatedAt = fromMicros(created)
		b.Events = append(b.Events, e)
		if behind == 1 {
			if b.Behind == nil {
				b.Behind = map[string]bool{}
			}
			b.Behind[e.FIFOKey] = true
		}
	}
	return b, rows.Err()
}

// FinishEvents implements store.Store.
func (db *DB) FinishEvents(ctx context.Context, d store.EventsDone) error {
	if len(d.Spill) == 0 && db.ev.finish != "" {
		var held int
		if err := db.w.QueryRowContext(ctx, db.ev.finish, micros(d.LeaseUntil), d.Owner, db.d.idListArg(d.Done)).Scan(&held); err != nil {
			return err
		}
		if held == 0 {
			return store.ErrLeaseLost
		}
		return nil
	}
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
		for _, s := range d.Spill {
			seqs = append(seqs, s.Seq)
		}
		if len(seqs) > 0 {
			if _, err := t.exec(db.ev.done, db.d.idListArg(seqs)); err != nil {
				return err
			}
		}
		for _, s := range d.Spill {
			if s.Entry.DueAt.IsZero() {
				return errors.New("store: spilled event: zero due time")
			}
			status := store.OutboxPending
			if s.Dead {
				status = store.OutboxDead
			}
			created := s.CreatedAt
			if created.IsZero() {
				created = s.Entry.DueAt
			}
			if _, err := t.exec(db.ev.spill, s.Entry.FIFOKey, s.Entry.Payload, status, micros(s.Entry.DueAt), s.Attempts,
				s.Error, micros(created)); err != nil {
				return err
			}
		}
		if len(d.Spill) > 0 {
			return t.afterEnqueue()
		}
		return nil
	})
}
