package outbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// The event log's dispatcher. Platform events are appended to the store's event log,
// not the outbox (see store.LoggedEvent). One relay instance at a time holds the log's
// dispatch lease and posts the oldest events: a batch at a time, each conversation's
// events one after the other in log order, different conversations at once (through
// the same sender chain as outbox events: breaker, timeout, metrics, batched posts).
// Posted events leave the log in one transaction per batch. An event whose post fails
// moves to the outbox, due after the first backoff, with the later events of its
// conversation behind it, and the outbox's retries and dead letters take it from there;
// while a conversation has events pending in the outbox, its new events join them.
//
// At-least-once: a crash between a post and the batch's commit posts the event again
// (the receiver drops repeated event ids). The lease keeps a second instance from
// posting the log while one is: an attempt starts only while the lease outlasts its
// timeout and this instance's heartbeat is fresh, and a batch is recorded only if the
// lease still holds.

// evFlight is one event of a batch and what its post did.
type evFlight struct {
	ev     store.LoggedEvent
	posted bool  // the platform took it
	err    error // the post failed: the event moves to the outbox
}

// dispatchEvents posts the event log until ctx ends, while this relay holds the
// dispatch lease; attempts run on attemptCtx, as the outbox's do.
func (r *Relay) dispatchEvents(ctx, attemptCtx context.Context, giveUp <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var until time.Time // the lease's end as last extended; zero: not held
	var tried time.Time // the last attempt to take the lease
	var last time.Time  // when the last read that found less than a full batch ended
	for ctx.Err() == nil {
		wait := r.fallback
		now := time.Now()
		gap := r.cfg.ClaimGap - now.Sub(last)
		switch {
		case !r.fresh():
			// Others may take this instance for dead: hold off, as the claimer does.
			wait = r.beatEvery
		case now.Add(r.cfg.AttemptTimeout + r.cfg.Lease/10).After(until):
			// Not held, or too close to its end for an attempt to start.
			if until.IsZero() && now.Sub(tried) < r.beatEvery {
				wait = r.beatEvery - now.Sub(tried)
				break
			}
			tried = now
			ok, err := r.cfg.Store.LeaseEvents(ctx, store.EventLease{Owner: r.cfg.Owner, Now: now, Until: now.Add(r.cfg.Lease)})
			if err != nil {
				if ctx.Err() == nil {
					r.cfg.Log.Error("outbox: taking the event log's lease failed", "err", err)
				}
				until, wait = time.Time{}, r.beatEvery
				break
			}
			if !ok {
				until, wait = time.Time{}, r.beatEvery // another instance posts the log
				break
			}
			until = now.Add(r.cfg.Lease)
			continue
		case gap > 0:
			// As the claimer does: under load every commit wakes us, and a batch of an
			// event or two costs a read and a commit apiece; let events gather.
			wait = gap
		default:
			b, err := r.cfg.Store.ReadEvents(ctx, r.cfg.BatchSize)
			if err != nil {
				if ctx.Err() == nil {
					r.cfg.Log.Error("outbox: reading the event log failed", "err", err)
				}
				wait = time.Second
				break
			}
			if len(b.Events) < r.cfg.BatchSize {
				last = time.Now()
			}
			if len(b.Events) == 0 {
				break
			}
			fs := r.postEvents(ctx, attemptCtx, b, until)
			leaseUntil := time.Now().Add(r.cfg.Lease)
			switch err := r.finishEvents(fs, b.Behind, leaseUntil, giveUp); {
			case errors.Is(err, store.ErrLeaseLost):
				r.cfg.Log.Warn("outbox: the event log's lease was lost; another instance posts it now")
				until = time.Time{}
			case err != nil:
				until = time.Time{} // not recorded: take the lease afresh before posting again
			default:
				until = leaseUntil
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-r.evWake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// postEvents posts a batch: the events of one FIFO key in order, up to Workers keys at
// once. A key with events pending in the outbox is not posted (its events follow them
// there); after a key's first failure, its later events are not posted either. An
// event is not started once ctx ends or the lease could end before its attempt would.
func (r *Relay) postEvents(ctx, attemptCtx context.Context, b store.EventBatch, until time.Time) []*evFlight {
	fs := make([]*evFlight, len(b.Events))
	var keys []string
	byKey := map[string][]*evFlight{}
	for i, e := range b.Events {
		fs[i] = &evFlight{ev: e}
		if b.Behind[e.FIFOKey] {
			continue
		}
		if _, ok := byKey[e.FIFOKey]; !ok {
			keys = append(keys, e.FIFOKey)
		}
		byKey[e.FIFOKey] = append(byKey[e.FIFOKey], fs[i])
	}
	send := r.senders[store.KindEvent]
	next := make(chan string, len(keys))
	for _, k := range keys {
		next <- k
	}
	close(next)
	var wg sync.WaitGroup
	for range min(r.cfg.Workers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				for _, f := range byKey[k] {
					if ctx.Err() != nil || !r.fresh() || !time.Now().Add(r.cfg.AttemptTimeout+r.cfg.Lease/10).Before(until) {
						break
					}
					_, err := send.Send(attemptCtx, store.Entry{ID: f.ev.Seq, Kind: store.KindEvent, FIFOKey: f.ev.FIFOKey,
						Payload: f.ev.Payload, Attempts: 1, CreatedAt: f.ev.CreatedAt})
					if err == nil {
						f.posted = true
						continue
					}
					if attemptCtx.Err() == nil {
						f.err = err
					} // else shutdown cut the post short: it stays in the log, as one never started does
					break
				}
			}
		}()
	}
	wg.Wait()
	return fs
}

// finishEvents records a batch: posted events leave the log, and failed ones, with the
// later events of their keys and those of keys behind the outbox, move to the outbox.
// Events neither posted nor failed (not started) stay in the log, unless a key's
// earlier event moved: then they move too, to keep the key's order. It retries until
// the batch is recorded, the lease is lost, or the drain deadline passes.
func (r *Relay) finishEvents(fs []*evFlight, behind map[string]bool, leaseUntil time.Time, giveUp <-chan struct{}) error {
	d := store.EventsDone{Owner: r.cfg.Owner, LeaseUntil: leaseUntil}
	moved := map[string]bool{}
	failed := 0
	var firstErr error
	now := r.cfg.Now()
	for _, f := range fs {
		k := f.ev.FIFOKey
		switch {
		case f.posted:
			d.Done = append(d.Done, f.ev.Seq)
		case f.err != nil:
			failed++
			if firstErr == nil {
				firstErr = f.err
			}
			moved[k] = true
			// The attempt counts as the outbox row's first: its backoff (or the
			// platform's Retry-After), or a dead letter at once for a refusal.
			e := store.Entry{ID: f.ev.Seq, Kind: store.KindEvent, FIFOKey: k, Payload: f.ev.Payload, Attempts: 1, CreatedAt: f.ev.CreatedAt}
			res := r.result(e, adapters.Receipt{}, f.err)
			sp := store.SpilledEvent{Seq: f.ev.Seq, Entry: store.NewEntry{Kind: store.KindEvent, FIFOKey: k, Payload: f.ev.Payload, DueAt: now},
				Attempts: 1, Error: res.Error, Dead: res.Outcome == store.Dead, CreatedAt: f.ev.CreatedAt}
			if res.Outcome == store.Retry {
				sp.Entry.DueAt = res.RetryAt
			}
			if res.NoAttempt {
				sp.Attempts = 0
			}
			d.Spill = append(d.Spill, sp)
		case behind[k] || moved[k]:
			moved[k] = true
			d.Spill = append(d.Spill, store.SpilledEvent{Seq: f.ev.Seq, Entry: store.NewEntry{Kind: store.KindEvent, FIFOKey: k,
				Payload: f.ev.Payload, DueAt: now}, CreatedAt: f.ev.CreatedAt})
		}
	}
	if len(d.Done) == 0 && len(d.Spill) == 0 {
		return nil
	}
	if failed > 0 {
		r.cfg.Log.Warn("outbox: platform events not posted; moved to the outbox to be retried", "events", failed, "err", firstErr)
	}
	wait := 10 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.cfg.Store.FinishEvents(ctx, d)
		cancel()
		if err == nil || errors.Is(err, store.ErrLeaseLost) {
			return err
		}
		r.cfg.Log.Error("outbox: recording posted events failed; retrying", "err", err, "events", len(fs))
		select {
		case <-time.After(wait):
		case <-giveUp:
			r.cfg.Log.Error("outbox: shutting down with posted events not recorded; they will be posted again", "events", len(d.Done))
			return err
		}
		wait = min(wait*2, 2*time.Second)
	}
}
