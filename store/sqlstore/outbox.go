package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// ClaimDue implements store.Store.
func (db *DB) ClaimDue(ctx context.Context, c store.Claim) (store.Claimed, error) {
	leaseNow := c.LeaseNow
	if leaseNow.IsZero() {
		leaseNow = c.Now
	}
	var out store.Claimed
	err := db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		out = store.Claimed{}
		token := newToken()
		until := leaseNow.Add(c.Lease)
		if q := db.d.claimSetup(); q != "" {
			if _, err := t.exec(q); err != nil {
				return err
			}
		}
		rows, err := t.query(db.q.claim, c.Owner, token, micros(until), micros(c.Now), micros(leaseNow),
			db.d.idListArg(c.Exclude), c.Limit)
		if err != nil {
			return err
		}
		var es []store.Entry
		var slots []int64
		for rows.Next() {
			var e store.Entry
			var created, slot int64
			if err := rows.Scan(&e.ID, &e.Kind, &e.FIFOKey, &e.MessageID, &e.Payload, &e.Attempts, &slot, &created); err != nil {
				rows.Close()
				return err
			}
			e.CreatedAt = fromMicros(created)
			e.LeaseToken, e.LeaseUntil = token, until
			es = append(es, e)
			slots = append(slots, slot)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		out.Rows = len(es)
		if err := t.loadClaimed(es); err != nil {
			return err
		}
		now, err := t.pace(c, es, slots)
		if err != nil {
			return err
		}
		var sending []mid
		for i := range now {
			e := &now[i]
			if e.Message == nil {
				continue
			}
			sending = append(sending, mid{e.MessageID})
			if e.Message.Status == omnigate.StatusQueued {
				e.Message.Status = omnigate.StatusSending
			}
			e.Message.Attempts++
		}
		if len(sending) > 0 {
			if _, err := t.exec(db.q.markSendingIn, append([]any{micros(c.Now)}, db.d.recordArgs(sending)...)...); err != nil {
				return err
			}
		}
		out.Entries = now
		return nil
	})
	// RETURNING gives no order guarantee; the relay wants oldest first.
	slices.SortFunc(out.Entries, func(a, b store.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

// mid is a records row of one message id.
type mid struct {
	MID string `json:"mid"`
}

// loadClaimed reads the message and conversation of every claimed delivery in one
// statement.
func (t *tx) loadClaimed(es []store.Entry) error {
	var ids []mid
	at := map[string]int{}
	for i, e := range es {
		if e.Kind == store.KindDeliver && e.MessageID != "" {
			ids = append(ids, mid{e.MessageID})
			at[e.MessageID] = i
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := t.query(t.db.q.claimedMsgsIn, t.db.d.recordArgs(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cv omnigate.Conversation
		var opened, inbound, activity int64
		m, err := scanMessage(rows, convDest(&cv, &opened, &inbound, &activity)...)
		if err != nil {
			return err
		}
		cv.OpenedAt, cv.LastInboundAt, cv.LastActivityAt = fromMicros(opened), fromMicros(inbound), fromMicros(activity)
		if i, ok := at[m.ID]; ok {
			es[i].Message, es[i].Conversation = &m, &cv
		}
	}
	// A row whose message is gone keeps a nil Message: the relay completes it.
	return rows.Err()
}

// jsonArg encodes a batch for a set-based statement's one parameter.
func jsonArg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings, numbers and maps of them are passed
	}
	return string(b)
}

// pace gives every paced row without a slot its sender's next slot, and returns the
// rows to attempt now: the unpaced, those claimed at their slot, and each sender's
// first row when its slot is now. The others are put back, due at their slot, with
// the claim's attempt given back.
func (t *tx) pace(c store.Claim, es []store.Entry, slots []int64) ([]store.Entry, error) {
	if c.Pace == nil {
		return es, nil
	}
	type group struct {
		interval time.Duration
		idx      []int
	}
	groups := map[string]*group{}
	var keys []string
	for i, e := range es {
		if e.Message == nil {
			continue
		}
		key, iv := c.Pace(*e.Message)
		if iv <= 0 {
			continue
		}
		if slots[i] != 0 && c.Now.Sub(fromMicros(slots[i])) <= iv {
			continue // claimed at its slot: send it
		}
		g := groups[key]
		if g == nil {
			g = &group{interval: iv}
			groups[key] = g
			keys = append(keys, key)
		}
		g.idx = append(g.idx, i)
	}
	if len(keys) == 0 {
		return es, nil
	}
	slices.Sort(keys) // one lock order for every instance
	now := micros(c.Now)
	later := map[int]bool{}
	for _, key := range keys {
		g := groups[key]
		iv := g.interval.Microseconds()
		total := iv * int64(len(g.idx))
		var next int64
		if err := t.row(t.db.q.reserveSlot, key, now+total, now, now, total).Scan(&next); err != nil {
			return nil, err
		}
		first := next - total
		for n, i := range g.idx {
			slot := first + int64(n)*iv
			if slot <= now {
				continue // its slot is now: attempt it
			}
			if _, err := t.exec(t.db.q.reschedule, slot, slot, es[i].ID); err != nil {
				return nil, err
			}
			later[i] = true
		}
	}
	out := es[:0:0]
	for i, e := range es {
		if !later[i] {
			out = append(out, e)
		}
	}
	return out, nil
}

// Complete implements store.Store. The hot path is set-based: one statement removes
// every delivered row, one records the messages' statuses and carrier ids, one looks
// for held receipts and one enqueues the status events, whatever the batch size.
func (db *DB) Complete(ctx context.Context, results []store.Result, now time.Time) ([]error, error) {
	errs := make([]error, len(results))
	err := db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		for i := range errs {
			errs[i] = nil
		}
		// Carrier-id locks first, in one order, so that two instances' batches cannot
		// deadlock on them.
		var keys []string
		events := false
		for _, r := range results {
			if r.MessageID != "" && r.ProviderMessageID != "" {
				if r.Channel == "" {
					return fmt.Errorf("store: complete %d: a carrier id needs its channel", r.EntryID)
				}
				keys = append(keys, "pid|"+string(r.Channel)+"|"+r.ProviderMessageID)
			}
			events = events || len(r.Events) > 0
		}
		slices.Sort(keys)
		// Other instances hear of the events up front; a batch whose statuses all
		// stay (no event enqueued) only wakes them for nothing.
		notify := events && !t.notified && !t.batched
		if err := db.d.completeBegin(t.ctx, t.tx, slices.Compact(keys), notify, db.self); err != nil {
			return err
		}
		t.notified = t.notified || notify
		held, err := t.completeOutbox(results, errs)
		if err != nil {
			return err
		}
		return t.completeMessages(results, held, now)
	})
	if err != nil {
		for i := range errs {
			errs[i] = nil
		}
	}
	return errs, err
}

// completeOutbox applies each result to its outbox row while the lease token holds,
// marks errs[i] ErrLeaseLost where it does not, and reports which results hold.
func (t *tx) completeOutbox(results []store.Result, errs []error) ([]bool, error) {
	held := make([]bool, len(results))
	var doneIDs []int64
	var doneTokens []string
	doneAt := map[int64]int{}
	// Retries and dead letters are rare: row by row, in id order (as a heartbeat
	// locks rows).
	order := make([]int, len(results))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(results[a].EntryID, results[b].EntryID) })
	for _, i := range order {
		r := results[i]
		var res sql.Result
		var err error
		switch r.Outcome {
		case store.Done:
			doneIDs, doneTokens = append(doneIDs, r.EntryID), append(doneTokens, r.Token)
			doneAt[r.EntryID] = i
			continue
		case store.Retry:
			giveBack := 0
			if r.NoAttempt {
				giveBack = 1
			}
			res, err = t.exec(t.db.q.completeRetry, micros(r.RetryAt), r.Error, giveBack, r.EntryID, r.Token)
		case store.Dead:
			res, err = t.exec(t.db.q.completeDead, r.Error, r.EntryID, r.Token)
		default:
			return nil, errors.New("store: unknown outcome")
		}
		if err != nil {
			return nil, err
		}
		n, _ := res.RowsAffected()
		held[i] = n == 1
	}
	if len(doneIDs) > 0 {
		ids, err := column[int64](t, t.db.q.doneIn, t.db.d.doneArgs(doneIDs, doneTokens)...)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			held[doneAt[id]] = true
		}
	}
	for i, ok := range held {
		if !ok {
			errs[i] = store.ErrLeaseLost
		}
	}
	return held, nil
}

// completeMessages applies the held results to their messages: the status only while
// the message is still in the relay's hands, the carrier's id, the receipts held for
// that id, and the platform events of each change, in that order. The carrier's id
// rides on the status update; only a message whose status stays (a receipt got there
// first) has it set by a statement of its own.
func (t *tx) completeMessages(results []store.Result, held []bool, now time.Time) error {
	type status struct {
		MID    string `json:"mid"`
		Status string `json:"status"`
		Code   string `json:"code"`
		Msg    string `json:"msg"`
		PID    string `json:"pid"`
	}
	type pid struct {
		MID string `json:"mid"`
		PID string `json:"pid"`
	}
	type chpid struct {
		Ch  string `json:"ch"`
		PID string `json:"pid"`
	}
	var statuses []status
	var pids []pid
	var lookups []chpid
	var evs []store.NewEntry
	for i, r := range results {
		if !held[i] {
			continue
		}
		if r.MessageID == "" {
			evs = append(evs, r.Events...)
			continue
		}
		switch r.Status {
		case "":
		case omnigate.StatusQueued:
			giveBack := 0
			if r.NoAttempt {
				giveBack = 1
			}
			if _, err := t.exec(t.db.q.msgRequeue, giveBack, r.ErrorCode, r.ErrorMessage, micros(now), r.MessageID); err != nil {
				return err
			}
		default:
			statuses = append(statuses, status{r.MessageID, string(r.Status), r.ErrorCode, r.ErrorMessage, r.ProviderMessageID})
		}
		if r.ProviderMessageID != "" {
			lookups = append(lookups, chpid{string(r.Channel), r.ProviderMessageID})
		}
	}
	changed := map[string]bool{}
	if len(statuses) > 0 {
		ids, err := column[string](t, t.db.q.msgResultIn, append([]any{micros(now)}, t.db.d.recordArgs(statuses)...)...)
		if err != nil {
			return err
		}
		for _, id := range ids {
			changed[id] = true
		}
	}
	for i, r := range results {
		if held[i] && r.MessageID != "" && changed[r.MessageID] {
			evs = append(evs, r.Events...)
			if r.Applied != nil {
				r.Applied()
			}
		}
	}
	if err := t.Enqueue(evs...); err != nil {
		return err
	}
	if len(lookups) == 0 {
		return nil
	}
	for i, r := range results {
		if held[i] && r.MessageID != "" && r.ProviderMessageID != "" && !changed[r.MessageID] {
			pids = append(pids, pid{r.MessageID, r.ProviderMessageID})
		}
	}
	if len(pids) > 0 {
		if _, err := t.exec(t.db.q.setProviderIn, t.db.d.recordArgs(pids)...); err != nil {
			return err
		}
	}
	// Receipts that overtook these results: rare, so applied one by one.
	rows, err := t.query(t.db.q.heldIn, t.db.d.recordArgs(lookups)...)
	if err != nil {
		return err
	}
	waiting := map[string]bool{}
	for rows.Next() {
		var ch, p string
		if err := rows.Scan(&ch, &p); err != nil {
			rows.Close()
			return err
		}
		waiting[ch+"|"+p] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, r := range results {
		if !held[i] || r.MessageID == "" || r.ProviderMessageID == "" || !waiting[string(r.Channel)+"|"+r.ProviderMessageID] {
			continue
		}
		m := omnigate.Message{ID: r.MessageID, Channel: r.Channel}
		if _, err := t.recordProviderID(m, r.ProviderMessageID, now, r.ReceiptEvent); err != nil {
			return err
		}
	}
	return nil
}

// Heartbeat implements store.Store.
func (db *DB) Heartbeat(ctx context.Context, hb store.Heartbeat) (store.HeartbeatResult, error) {
	var out store.HeartbeatResult
	err := db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		out = store.HeartbeatResult{}
		if q := db.d.relaySetup(); q != "" {
			if _, err := t.exec(q); err != nil {
				return err
			}
		}
		res, err := t.exec(db.q.beat, micros(hb.Now), hb.Owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out.Known = true
		} else if _, err := t.exec(db.q.register, hb.Owner, micros(hb.Now), micros(hb.Now)); err != nil {
			return err
		}
		if len(hb.Extend) > 0 {
			var err error
			out.Extended, err = column[int64](t, db.q.extendLeases, micros(hb.LeaseUntil), hb.Owner, db.d.idListArg(hb.Extend))
			if err != nil {
				return err
			}
		}
		dead, err := column[string](t, db.q.reapInstances, micros(hb.DeadBefore))
		if err != nil {
			return err
		}
		for _, owner := range dead {
			res, err := t.exec(db.q.release, owner)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			out.Reaped += int(n)
		}
		if out.Reaped > 0 {
			t.enqueued = true // wake this process's relay
			return db.d.notifyInTx(t.ctx, t.tx, db.self)
		}
		return nil
	})
	return out, err
}

// Release implements store.Store.
func (db *DB) Release(ctx context.Context, owner string) error {
	return db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		res, err := t.exec(db.q.release, owner)
		if err != nil {
			return err
		}
		if _, err := t.exec(db.q.dropInstance, owner); err != nil {
			return err
		}
		if _, err := t.exec(db.ev.release, owner); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			t.enqueued = true
			return db.d.notifyInTx(t.ctx, t.tx, db.self)
		}
		return nil
	})
}

// NextDue implements store.Store.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var v int64
	err := db.r.QueryRowContext(ctx, db.q.nextDue).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return fromMicros(v), true, nil
}

// Prune implements store.Store. Each batch is its own short transaction, so pruning a
// large backlog never holds SQLite's writer for long.
func (db *DB) Prune(ctx context.Context, p store.Prune) (int, error) {
	if p.Limit <= 0 {
		p.Limit = 1000
	}
	total := 0
	for _, job := range []struct {
		q      string
		before time.Time
	}{{db.q.pruneSeen, p.InboundSeenBefore}, {db.q.pruneIdem, p.IdempotencyBefore}, {db.q.pruneReceipts, p.ReceiptsBefore}} {
		if job.before.IsZero() {
			continue
		}
		for {
			var n int64
			err := db.own(ctx, func(stx store.Tx) error {
				res, err := stx.(*tx).exec(job.q, micros(job.before), p.Limit)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, err
			}
			total += int(n)
			if n < int64(p.Limit) {
				break
			}
		}
	}
	n, err := db.pruneRetention(ctx, p)
	return total + n, err
}
