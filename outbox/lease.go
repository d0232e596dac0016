package outbox

import (
	"context"
	"time"

	"github.com/omnigate/omnigate/store"
)

// keep heartbeats until ctx ends: it keeps this instance registered, extends the
// leases of every row in flight, and releases the leases of dead instances.
func (r *Relay) keep(ctx context.Context) {
	t := time.NewTicker(r.beatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.beat(ctx)
		}
	}
}

// fresh reports whether the last heartbeat that got through is recent enough that no
// other instance can have taken this one for dead.
func (r *Relay) fresh() bool {
	last := r.lastBeat.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < r.cfg.InstanceTimeout/2
}

func (r *Relay) beat(ctx context.Context) {
	ids := r.inflightIDs()
	now := time.Now()
	until := now.Add(r.cfg.Lease)
	bctx, cancel := context.WithTimeout(ctx, r.cfg.InstanceTimeout)
	hb, err := r.cfg.Store.Heartbeat(bctx, store.Heartbeat{Owner: r.cfg.Owner, Now: now, Extend: ids,
		LeaseUntil: until, DeadBefore: now.Add(-r.cfg.InstanceTimeout)})
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Log.Warn("outbox: heartbeat failed", "err", err)
		}
		return
	}
	wasFresh := r.fresh()
	first := r.lastBeat.Load() == 0
	r.lastBeat.Store(now.UnixNano())
	extended := make(map[int64]bool, len(hb.Extended))
	for _, id := range hb.Extended {
		extended[id] = true
	}
	r.mu.Lock()
	for _, id := range ids {
		f := r.inflight[id]
		if f == nil {
			continue
		}
		if extended[id] {
			f.leaseUntil = until
		} else {
			f.lost = true // released or taken by another: never start it
		}
	}
	r.mu.Unlock()
	if !hb.Known && !first {
		r.cfg.Log.Warn("outbox: other instances took this one for dead and released its leases; rows in flight will be sent again by them",
			"owner", r.cfg.Owner, "in_flight", len(ids))
	}
	if hb.Reaped > 0 {
		r.cfg.Log.Info("outbox: released the leases of instances that stopped heartbeating", "rows", hb.Reaped)
	}
	if hb.Reaped > 0 || !wasFresh {
		r.Wake()
	}
}
