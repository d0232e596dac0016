// Package outbox is the relay: it claims due outbox rows with a lease, hands messages to
// their carrier and events to the platform, and records the outcome.
//
// Delivery promises at-least-once with a duplicate only when a process dies between a
// carrier's acceptance and the commit of the result:
//   - it claims only what its workers can start now (plus a small buffer), and never
//     starts an attempt whose lease could end before the attempt's timeout;
//   - a heartbeat extends the leases of every row in flight, and releases the leases of
//     instances that stopped heartbeating, so rows in flight at a crash are due again
//     within seconds;
//   - recording a result is retried until it commits or the lease is provably lost;
//   - it sleeps until the next claimable row is due, woken by commits and NOTIFY.
//
// Each concern of one attempt is a small Wrapper around a Sender (sender.go): policy
// recheck, skipping what a receipt proved accepted, breaker, timeout, observation.
// Carrier messages and platform events are two registered Senders.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/store"
)

// Config configures a Relay.
type Config struct {
	Store    store.Store
	Registry *adapters.Registry
	// Events posts platform events; nil when no events.url is configured.
	Events *events.Sink
	// Owner names this relay in leases; unique per process.
	Owner   string
	Workers int // concurrent deliveries (default 8)
	// Buffer is how many claimed rows may wait for a free worker (default Workers/4,
	// at least 1): enough to keep workers busy, never a backlog that outlives a lease.
	Buffer int
	// BatchSize caps the rows one claim takes, and the events one read of the event
	// log takes (default 128).
	BatchSize int
	// ClaimGap is the least time from the end of one claim to the start of the next,
	// and after a read of the event log that found less than a batch, before the next
	// (default 2ms; negative: none). Under load every commit wakes the claimer, and
	// claims that each found a row or two cost a transaction apiece; waiting a moment
	// lets rows gather into one claim.
	ClaimGap    time.Duration
	Lease       time.Duration // default 30s
	MaxAttempts int           // default 10
	// InitialBackoff and MaxBackoff bound the exponential retry delay (defaults 1s, 10m).
	InitialBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt (default 10s, and at most Lease/3 by default).
	// It must be at most half the lease.
	AttemptTimeout time.Duration
	// InstanceTimeout: an instance not heard from for this long is taken for dead and
	// its leases are released (default 5s). Heartbeats go out several times within it.
	InstanceTimeout time.Duration
	// Recheck re-checks a message's time-based policy just before each attempt.
	Recheck func(e store.Entry, now time.Time) Verdict
	// Rate returns the per-sender pacing (messages per second, 0 = none) for a message.
	Rate func(m omnigate.Message) float64
	// Now is the business clock: due times, retries, windows. Leases and heartbeats
	// always run on the wall clock, so a clock moved by hand never expires a lease.
	Now      func() time.Time
	Log      *slog.Logger
	Observer Observer
	// BreakerTimeout is how long an open breaker waits before it lets one attempt
	// through to try the carrier again (default 10s).
	BreakerTimeout time.Duration
}

// Validate reports a configuration the relay cannot keep its promises with.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil || c.Registry == nil {
		errs = append(errs, errors.New("a store and an adapter registry are required"))
	}
	if c.Owner == "" {
		errs = append(errs, errors.New("an owner name is required"))
	}
	if c.Lease > 0 && c.AttemptTimeout > c.Lease/2 {
		errs = append(errs, fmt.Errorf("attempt timeout %v must be at most half the lease %v, so that an attempt always ends before its lease could", c.AttemptTimeout, c.Lease))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Relay delivers the outbox.
type Relay struct {
	cfg       Config
	senders   map[string]Sender
	breakers  *Breakers
	pace      func(omnigate.Message) (string, time.Duration)
	slots     int
	beatEvery time.Duration
	fallback  time.Duration
	wake      chan struct{}
	evWake    chan struct{} // the event log's dispatcher: events were appended

	mu       sync.Mutex
	inflight map[int64]*flight

	lastBeat atomic.Int64 // wall clock of the last heartbeat that committed, UnixNano
	stopping atomic.Bool
}

// flight is a claimed row from claim to recorded result.
type flight struct {
	entry store.Entry
	// Guarded by Relay.mu: the lease token, the lease's end as last extended, and
	// whether the lease is provably lost.
	token      string
	leaseUntil time.Time
	lost       bool
	result     store.Result
	// held lists the statuses of held receipts the store applied with the result (in
	// the commit that succeeded), for metrics. Only the completer touches it.
	held []omnigate.MessageStatus
	// applied reports that the result's own status moved the message (in the commit
	// that succeeded): a receipt that got there first was counted when it came.
	applied bool
}

// New returns a relay; Run starts it.
func New(cfg Config) (*Relay, error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Workers, 8)
	def(&cfg.Buffer, max(1, cfg.Workers/4))
	def(&cfg.BatchSize, 128)
	def(&cfg.MaxAttempts, 10)
	defd(&cfg.Lease, 30*time.Second)
	defd(&cfg.InitialBackoff, time.Second)
	defd(&cfg.MaxBackoff, 10*time.Minute)
	defd(&cfg.AttemptTimeout, min(10*time.Second, cfg.Lease/3))
	defd(&cfg.InstanceTimeout, 5*time.Second)
	if cfg.ClaimGap == 0 {
		cfg.ClaimGap = 2 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, wake: make(chan struct{}, 1), evWake: make(chan struct{}, 1), inflight: map[int64]*flight{},
		slots:     cfg.Workers + cfg.Buffer,
		beatEvery: min(time.Second, cfg.Lease/4, cfg.InstanceTimeout/4),
		fallback:  max(cfg.InstanceTimeout, time.Second),
		pace:      Pacing(cfg.Rate),
		breakers:  &Breakers{Log: cfg.Log, Observer: cfg.Observer, Timeout: cfg.BreakerTimeout},
	}
	carrier := carrierLabels(cfg.Registry)
	r.senders = map[string]Sender{
		store.KindDeliver: Chain(Carriers(cfg.Registry),
			SkipAccepted(), Recheck(cfg.Recheck, cfg.Now), Observe(cfg.Observer, "deliver", carrier),
			r.breakers.Wrap(carrier), Timeout(cfg.AttemptTimeout)),
		store.KindEvent: Chain(Events(cfg.Events),
			Observe(cfg.Observer, "event", platformLabels), r.breakers.Wrap(platformLabels), Timeout(cfg.AttemptTimeout)),
	}
	return r, nil
}

// Register makes s deliver the outbox rows of kind, replacing the built-in sender.
// Call it before Run.
func (r *Relay) Register(kind string, s Sender) { r.senders[kind] = s }

// Wake asks the relay to look for due rows now.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// BreakerStates reports each account's breaker state, for metrics and readiness.
func (r *Relay) BreakerStates() map[string]string { return r.breakers.States() }

// Run delivers until ctx is done, then stops claiming, lets attempts in flight finish
// within drain (rows claimed but not started are handed back), records their outcomes
// and releases this relay's leases.
func (r *Relay) Run(ctx context.Context, drain time.Duration) error {
	work := make(chan *flight, r.slots)
	results := make(chan *flight, r.slots)
	// Attempts run on their own context so that shutdown lets them finish (bounded
	// by drain) instead of abandoning a carrier call half-way.
	attemptCtx, cancelAttempts := context.WithCancel(context.Background())
	defer cancelAttempts()
	giveUp := make(chan struct{}) // closed when the drain deadline passes

	// Register before the first claim, so that others see this instance alive.
	r.beat(ctx)
	keepCtx, stopKeeping := context.WithCancel(context.Background())
	keeperDone := make(chan struct{})
	go func() { defer close(keeperDone); r.keep(keepCtx) }()

	var workers sync.WaitGroup
	for range r.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for f := range work {
				r.work(attemptCtx, f)
				results <- f
			}
		}()
	}
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		r.complete(results, giveUp)
	}()
	dispatcherDone := make(chan struct{})
	go func() {
		defer close(dispatcherDone)
		r.dispatchEvents(ctx, attemptCtx, giveUp)
	}()

	r.claimLoop(ctx, work)
	r.stopping.Store(true)
	close(work)
	deadline := time.AfterFunc(drain, func() { close(giveUp) })
	defer deadline.Stop()

	waited := make(chan struct{})
	go func() { workers.Wait(); <-dispatcherDone; close(waited) }()
	select {
	case <-waited:
	case <-giveUp:
		r.cfg.Log.Warn("outbox: drain deadline passed; abandoning in-flight attempts")
		cancelAttempts()
		<-waited
	}
	close(results)
	<-completerDone
	stopKeeping()
	<-keeperDone
	relCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.cfg.Store.Release(relCtx, r.cfg.Owner)
}

// claimLoop claims what the workers can start, then sleeps until the next claimable
// row is due, a commit or NOTIFY says there is more, or a worker frees up.
func (r *Relay) claimLoop(ctx context.Context, work chan<- *flight) {
	notify := r.cfg.Store.Notify()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last time.Time // when the latest claim ended
	for {
		if ctx.Err() != nil {
			return
		}
		wait := r.fallback // rows another instance scheduled, a missed NOTIFY
		free := min(r.slots-r.count(), r.cfg.BatchSize)
		gap := r.cfg.ClaimGap - time.Since(last)
		switch {
		case free <= 0:
			// Full: a finished row wakes us.
		case !r.fresh():
			// Our heartbeat is not getting through: we could not keep a lease alive.
			wait = r.beatEvery
		case gap > 0:
			// Too soon after the last claim: let rows gather.
			wait = gap
		default:
			c, err := r.cfg.Store.ClaimDue(ctx, store.Claim{Owner: r.cfg.Owner, Now: r.cfg.Now(), LeaseNow: time.Now(),
				Lease: r.cfg.Lease, Limit: free, Exclude: r.inflightIDs(), Pace: r.pace})
			last = time.Now()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.cfg.Log.Error("outbox: claim failed", "err", err)
				wait = time.Second
				break
			}
			if r.cfg.Observer != nil {
				r.cfg.Observer.Claim(c.Rows)
			}
			r.dispatch(c.Entries, work)
			if c.Rows >= free {
				continue // there may be more due right now
			}
			due, ok, err := r.cfg.Store.NextDue(ctx)
			if err == nil && ok {
				if d := due.Sub(r.cfg.Now()); d < wait {
					wait = max(d, 2*time.Millisecond)
				}
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-notify:
			// Rows or events were appended: the event log's dispatcher hears it too,
			// when events are on (otherwise it looks for leftovers now and then).
			if r.cfg.Events != nil {
				select {
				case r.evWake <- struct{}{}:
				default:
				}
			}
		case <-r.wake:
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

// dispatch records the claimed rows as in flight and hands them to the workers. The
// channel never blocks: it holds as many rows as may be in flight.
func (r *Relay) dispatch(es []store.Entry, work chan<- *flight) {
	var fresh []*flight
	r.mu.Lock()
	for _, e := range es {
		if _, ok := r.inflight[e.ID]; ok {
			// Claims exclude our rows in flight; should one come back all the same, the
			// attempt already running is the only one.
			r.cfg.Log.Error("outbox: claimed a row already in flight; not attempting it twice", "entry", e.ID)
			continue
		}
		f := &flight{entry: e, token: e.LeaseToken, leaseUntil: e.LeaseUntil}
		r.inflight[e.ID] = f
		fresh = append(fresh, f)
	}
	r.mu.Unlock()
	for _, f := range fresh {
		work <- f
	}
}

func (r *Relay) inflightIDs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.inflight))
	for id := range r.inflight {
		ids = append(ids, id)
	}
	return ids
}

func (r *Relay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inflight)
}

// work runs one attempt, or hands the row back when it must not start: the relay is
// stopping, or its lease could end before the attempt's timeout.
func (r *Relay) work(ctx context.Context, f *flight) {
	if r.stopping.Load() || !r.startable(f) {
		f.result = r.giveBack(f.entry)
		return
	}
	s, ok := r.senders[f.entry.Kind]
	if !ok {
		f.result = r.result(f.entry, adapters.Receipt{}, adapters.Permanent("unknown_kind", "no sender for outbox rows of kind "+f.entry.Kind, nil))
		return
	}
	rc, err := s.Send(ctx, f.entry)
	f.result = r.result(f.entry, rc, err)
}

// startable reports whether an attempt may start on f: the lease outlasts the attempt's
// timeout with room to spare, and our heartbeat is getting through.
func (r *Relay) startable(f *flight) bool {
	r.mu.Lock()
	until, lost := f.leaseUntil, f.lost
	r.mu.Unlock()
	margin := r.cfg.Lease / 10
	return !lost && r.fresh() && time.Now().Add(r.cfg.AttemptTimeout+margin).Before(until)
}

// complete records results in batches: whatever has arrived is written in one
// transaction, retried until it commits or the leases are provably lost. Finishing a
// row wakes the claimer: the row may have been the head its conversation's next
// message waited behind, and a worker is free.
func (r *Relay) complete(results <-chan *flight, giveUp <-chan struct{}) {
	batch := make([]*flight, 0, 256)
	for f := range results {
		batch = append(batch[:0], f)
	more:
		for len(batch) < cap(batch) {
			select {
			case f, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, f)
			default:
				break more
			}
		}
		r.commit(batch, giveUp)
		r.mu.Lock()
		for _, f := range batch {
			delete(r.inflight, f.entry.ID)
		}
		r.mu.Unlock()
		r.Wake()
	}
}

// commit records one batch. A batch that fails twice is split, so that one row the
// store refuses cannot hold back the others.
func (r *Relay) commit(batch []*flight, giveUp <-chan struct{}) {
	results := make([]store.Result, len(batch))
	wait := 10 * time.Millisecond
	for try := 1; ; try++ {
		lost := 0
		r.mu.Lock()
		for i, f := range batch {
			results[i] = f.result
			results[i].Token = f.token
			if f.lost {
				lost++
			}
			f.held, f.applied = f.held[:0], false
			results[i].Applied = func() { f.applied = true }
			if ev := f.result.ReceiptEvent; ev != nil {
				// Held receipts applied with the result are transitions too: note them
				// for the metrics. A failed commit is tried afresh, so the list is too;
				// the store may also run the transaction again, so a status is noted once.
				results[i].ReceiptEvent = func(st omnigate.MessageStatus, code, msg string) (store.NewEntry, error) {
					if !slices.Contains(f.held, st) {
						f.held = append(f.held, st)
					}
					return ev(st, code, msg)
				}
			}
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs, err := r.cfg.Store.Complete(ctx, results, r.cfg.Now())
		cancel()
		if err == nil {
			for i, e := range errs {
				if errors.Is(e, store.ErrLeaseLost) {
					r.cfg.Log.Warn("outbox: lease lost before the result was recorded", "entry", batch[i].entry.ID)
					continue
				}
				r.observeStatus(batch[i])
			}
			return
		}
		if lost == len(batch) {
			r.cfg.Log.Warn("outbox: results not recorded; every lease of the batch is lost to another instance", "rows", len(batch), "err", err)
			return
		}
		if try >= 2 && len(batch) > 1 {
			for _, f := range batch {
				r.commit([]*flight{f}, giveUp)
			}
			return
		}
		r.cfg.Log.Error("outbox: recording results failed; retrying", "err", err, "rows", len(batch), "try", try)
		select {
		case <-time.After(wait):
		case <-giveUp:
			r.cfg.Log.Error("outbox: shutting down with results not recorded; their rows will be attempted again", "rows", len(batch))
			return
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func (r *Relay) observeStatus(f *flight) {
	st := f.result.Status
	if r.cfg.Observer == nil || f.entry.Message == nil || st == "" || st == omnigate.StatusQueued {
		return
	}
	if f.applied {
		r.cfg.Observer.MessageStatus(*f.entry.Message, st)
	}
	for _, held := range f.held {
		r.cfg.Observer.MessageStatus(*f.entry.Message, held)
	}
}
