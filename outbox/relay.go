// Package outbox is the relay: it claims due outbox rows with a lease, hands messages to
// their carrier and events to the platform, and records the outcome. Retries back off
// exponentially with jitter (honouring Retry-After), one circuit breaker per carrier
// account sheds load during an outage, and rows that exhaust their attempts become dead
// letters. A new row wakes the relay at once; there is no polling sleep on the hot path.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/sony/gobreaker/v2"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/store"
)

// Verdict is the outcome of re-checking a message's time-based rules just before an
// attempt.
type Verdict struct {
	Allow  bool
	Tag    string // the carrier tag valid now (may differ from the one decided at enqueue)
	Rule   string // for a denial: "policy_expired"
	Reason string
}

// Observer receives what the relay did, for metrics. Every method may be nil-safe
// no-ops; the zero Observer does nothing.
type Observer interface {
	Attempt(kind string, ch omnigate.Channel, provider string, outcome string, d time.Duration)
	MessageStatus(m omnigate.Message, status omnigate.MessageStatus)
	BreakerState(account string, state string)
}

// Config configures a Relay.
type Config struct {
	Store    store.Store
	Registry *adapters.Registry
	// Events posts platform events; nil when no events.url is configured.
	Events *events.Sink
	// Owner names this relay in leases; unique per process.
	Owner       string
	Workers     int           // concurrent deliveries (default 8)
	BatchSize   int           // rows per claim (default 128)
	Lease       time.Duration // default 30s
	MaxAttempts int           // default 10
	// InitialBackoff and MaxBackoff bound the exponential retry delay (defaults 1s, 10m).
	InitialBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one carrier call (default 30s).
	AttemptTimeout time.Duration
	// Recheck re-checks a message's time-based policy just before each attempt.
	Recheck func(e store.Entry, now time.Time) Verdict
	// Rate returns the per-sender pacing (messages per second, 0 = none) for a message.
	Rate func(m omnigate.Message) float64
	// StatusCallback builds the status-callback URL carrying a message id.
	StatusCallback func(messageID string) string
	Now            func() time.Time
	Log            *slog.Logger
	Observer       Observer
}

// Relay delivers the outbox.
type Relay struct {
	cfg      Config
	breakers sync.Map // account -> *gobreaker.CircuitBreaker[struct{}]
	pacer    pacer
	wake     chan struct{}
}

// New returns a relay; Run starts it.
func New(cfg Config) (*Relay, error) {
	if cfg.Store == nil || cfg.Registry == nil {
		return nil, errors.New("outbox: Store and Registry are required")
	}
	if cfg.Owner == "" {
		return nil, errors.New("outbox: Owner is required")
	}
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
	def(&cfg.BatchSize, 128)
	def(&cfg.MaxAttempts, 10)
	defd(&cfg.Lease, 30*time.Second)
	defd(&cfg.InitialBackoff, time.Second)
	defd(&cfg.MaxBackoff, 10*time.Minute)
	defd(&cfg.AttemptTimeout, 30*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Relay{cfg: cfg, wake: make(chan struct{}, 1), pacer: pacer{next: map[string]time.Time{}}}, nil
}

// Wake asks the relay to look for due rows now.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then stops claiming, lets in-flight attempts finish
// within drain, records their outcomes and releases this relay's leases.
func (r *Relay) Run(ctx context.Context, drain time.Duration) error {
	work := make(chan store.Entry)
	results := make(chan store.Result, r.cfg.Workers*2)
	// Attempts run on their own context so that shutdown lets them finish (bounded
	// by drain) instead of abandoning a carrier call half-way.
	attemptCtx, cancelAttempts := context.WithCancel(context.Background())
	defer cancelAttempts()

	var workers sync.WaitGroup
	for i := 0; i < r.cfg.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for e := range work {
				results <- r.attempt(attemptCtx, e)
			}
		}()
	}
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		r.complete(results)
	}()

	r.claimLoop(ctx, work)
	close(work)

	waited := make(chan struct{})
	go func() { workers.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(drain):
		r.cfg.Log.Warn("outbox: drain deadline passed; abandoning in-flight attempts")
		cancelAttempts()
		<-waited
	}
	close(results)
	<-completerDone
	relCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.cfg.Store.Release(relCtx, r.cfg.Owner)
}

// inflight bounds claimed-but-unfinished rows so that a lease never waits long in a
// queue before its attempt starts.
func (r *Relay) claimLoop(ctx context.Context, work chan<- store.Entry) {
	notify := r.cfg.Store.Notify()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		default:
		}
		now := r.cfg.Now()
		es, err := r.cfg.Store.ClaimDue(ctx, r.cfg.Owner, now, r.cfg.Lease, r.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.cfg.Log.Error("outbox: claim failed", "err", err)
			es = nil
		}
		for _, e := range es {
			select {
			case work <- e:
			case <-ctx.Done():
				// Not started: give the lease back so another instance takes it at once.
				return
			}
		}
		if len(es) > 0 {
			continue // there may be more due right now
		}
		wait := time.Second // a fallback for clock-driven rows another instance wrote
		if due, ok, err := r.cfg.Store.NextDue(ctx); err == nil && ok {
			if d := due.Sub(r.cfg.Now()); d < wait {
				wait = max(d, time.Millisecond)
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-notify:
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

// complete records results in batches: whatever has arrived is written in one
// transaction, and finishing a row wakes the claimer, since the row may have been the
// head its conversation's next message waited behind.
func (r *Relay) complete(results <-chan store.Result) {
	batch := make([]store.Result, 0, 256)
	for res := range results {
		batch = append(batch[:0], res)
	more:
		for len(batch) < cap(batch) {
			select {
			case res, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, res)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs, err := r.cfg.Store.Complete(ctx, batch, r.cfg.Now())
		cancel()
		if err != nil {
			// The leases will expire and the rows be attempted again: at-least-once.
			r.cfg.Log.Error("outbox: recording results failed", "err", err, "rows", len(batch))
		}
		for i, e := range errs {
			if errors.Is(e, store.ErrLeaseLost) {
				r.cfg.Log.Warn("outbox: lease lost before the result was recorded", "entry", batch[i].EntryID)
			}
		}
		r.Wake()
	}
}

// backoffFor returns the delay before attempt n+1 (n >= 1), with jitter.
func (r *Relay) backoffFor(n int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = r.cfg.InitialBackoff
	b.MaxInterval = r.cfg.MaxBackoff
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < n; i++ {
		d = b.NextBackOff()
	}
	return d
}

func (r *Relay) breaker(account string) *gobreaker.CircuitBreaker[struct{}] {
	if cb, ok := r.breakers.Load(account); ok {
		return cb.(*gobreaker.CircuitBreaker[struct{}])
	}
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        account,
		MaxRequests: 1,
		Timeout:     10 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= 5
		},
		// Only a carrier that is down trips the breaker; a refused message is the
		// message's problem, not the carrier's.
		IsSuccessful: func(err error) bool {
			var re *adapters.RetryableError
			return err == nil || !errors.As(err, &re)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			r.cfg.Log.Warn("outbox: circuit breaker changed state", "account", name, "from", from.String(), "to", to.String())
			if r.cfg.Observer != nil {
				r.cfg.Observer.BreakerState(name, to.String())
			}
		},
	})
	actual, _ := r.breakers.LoadOrStore(account, cb)
	return actual.(*gobreaker.CircuitBreaker[struct{}])
}

// BreakerStates reports each account's breaker state, for metrics and readiness.
func (r *Relay) BreakerStates() map[string]string {
	out := map[string]string{}
	r.breakers.Range(func(k, v any) bool {
		out[k.(string)] = v.(*gobreaker.CircuitBreaker[struct{}]).State().String()
		return true
	})
	return out
}

func (r *Relay) attempt(ctx context.Context, e store.Entry) store.Result {
	if e.Kind == store.KindEvent {
		return r.attemptEvent(ctx, e)
	}
	return r.attemptDelivery(ctx, e)
}

func (r *Relay) attemptEvent(ctx context.Context, e store.Entry) store.Result {
	res := store.Result{EntryID: e.ID, Token: e.LeaseToken}
	if r.cfg.Events == nil {
		res.Outcome = store.Done // events were turned off after this one was written
		return res
	}
	cb := r.breaker("platform")
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, r.cfg.Events.Post(actx, e.Payload) })
	cancel()
	r.observe("event", "", "platform", err, time.Since(start))
	if err == nil {
		res.Outcome = store.Done
		return res
	}
	r.failure(&res, e, err, nil)
	return res
}

func (r *Relay) attemptDelivery(ctx context.Context, e store.Entry) store.Result {
	res := store.Result{EntryID: e.ID, Token: e.LeaseToken, MessageID: e.MessageID}
	m := e.Message
	if m == nil {
		res.Outcome = store.Done // the message is gone; nothing to deliver
		return res
	}
	now := r.cfg.Now()
	tag := m.Tag
	if r.cfg.Recheck != nil {
		v := r.cfg.Recheck(e, now)
		if !v.Allow {
			res.Outcome = store.Done
			res.Status = omnigate.StatusFailed
			res.ErrorCode, res.ErrorMessage = v.Rule, v.Reason
			r.statusEvent(&res, *m, now)
			r.cfg.Log.Info("outbox: message expired before it could be sent", "message", m.ID, "rule", v.Rule)
			return res
		}
		tag = v.Tag
	}
	if r.cfg.Rate != nil {
		if at, ok := r.pacer.take(string(m.Channel)+"|"+m.From, r.cfg.Rate(*m), now); !ok {
			res.Outcome, res.RetryAt, res.NoAttempt, res.Status = store.Retry, at, true, omnigate.StatusQueued
			return res
		}
	}
	a, ok := r.cfg.Registry.For(m.Channel)
	if !ok {
		res.Outcome, res.Status = store.Done, omnigate.StatusFailed
		res.ErrorCode, res.ErrorMessage = "no_carrier", "no carrier is configured for channel "+string(m.Channel)
		r.statusEvent(&res, *m, now)
		return res
	}
	out := adapters.Outbound{MessageID: m.ID, Channel: m.Channel, From: m.From, To: m.To, Text: m.Text,
		Template: m.Template, Media: m.Media, Tag: tag}
	if r.cfg.StatusCallback != nil {
		out.StatusCallback = r.cfg.StatusCallback(m.ID)
	}
	cb := r.breaker(a.Account())
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	var rc adapters.Receipt
	_, err := cb.Execute(func() (struct{}, error) {
		var err error
		rc, err = a.Send(actx, out)
		return struct{}{}, err
	})
	cancel()
	r.observe("deliver", m.Channel, a.Provider(), err, time.Since(start))
	if err == nil {
		res.Outcome = store.Done
		res.Status = rc.Status
		if res.Status == "" || res.Status.Rank() < omnigate.StatusSent.Rank() {
			res.Status = omnigate.StatusSent
		}
		res.ProviderMessageID = rc.ProviderMessageID
		r.statusEvent(&res, *m, r.cfg.Now())
		return res
	}
	r.failure(&res, e, err, m)
	return res
}

// failure turns an attempt's error into a retry, a failed message or a dead letter.
func (r *Relay) failure(res *store.Result, e store.Entry, err error, m *omnigate.Message) {
	now := r.cfg.Now()
	res.Error = err.Error()
	var re *adapters.RetryableError
	var pe *adapters.PermanentError
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		// The carrier is known to be down: wait without spending an attempt.
		res.Outcome, res.RetryAt, res.NoAttempt = store.Retry, now.Add(r.cfg.InitialBackoff+time.Duration(e.ID%1000)*time.Millisecond), true
		res.Status = omnigate.StatusQueued
		return
	case errors.As(err, &pe):
		res.Outcome, res.Status = store.Done, omnigate.StatusFailed
		res.ErrorCode, res.ErrorMessage = pe.Code, pe.Message
		if m != nil {
			r.statusEvent(res, *m, now)
		}
		r.cfg.Log.Info("outbox: permanent failure", "entry", e.ID, "message", e.MessageID, "code", pe.Code)
		return
	}
	code, msg := "", err.Error()
	var wait time.Duration
	if errors.As(err, &re) {
		code, msg, wait = re.Code, re.Message, re.RetryAfter
	}
	if e.Attempts >= r.cfg.MaxAttempts {
		res.Outcome = store.Dead
		res.Status, res.ErrorCode, res.ErrorMessage = omnigate.StatusFailed, code, msg
		if m != nil {
			r.statusEvent(res, *m, now)
		}
		r.cfg.Log.Warn("outbox: attempts exhausted; moved to dead letters", "entry", e.ID, "message", e.MessageID, "attempts", e.Attempts)
		return
	}
	res.Outcome = store.Retry
	res.RetryAt = now.Add(max(r.backoffFor(e.Attempts), wait))
	res.Status, res.ErrorCode, res.ErrorMessage = omnigate.StatusQueued, code, msg
	r.cfg.Log.Debug("outbox: attempt failed; will retry", "entry", e.ID, "attempt", e.Attempts, "retry_at", res.RetryAt, "err", err)
}

// statusEvent adds the platform event for the message's new status to res.
func (r *Relay) statusEvent(res *store.Result, m omnigate.Message, now time.Time) {
	m.Status, m.ErrorCode, m.ErrorMessage = res.Status, res.ErrorCode, res.ErrorMessage
	if res.ProviderMessageID != "" {
		m.ProviderMessageID = res.ProviderMessageID
	}
	if r.cfg.Observer != nil {
		r.cfg.Observer.MessageStatus(m, res.Status)
	}
	if r.cfg.Events == nil {
		return
	}
	ev, err := events.Entry(events.TypeMessageStatus, m.ConversationID, events.Message(m), now)
	if err != nil {
		r.cfg.Log.Error("outbox: building status event", "err", err)
		return
	}
	res.Events = append(res.Events, ev)
}

func (r *Relay) observe(kind string, ch omnigate.Channel, provider string, err error, d time.Duration) {
	if r.cfg.Observer == nil {
		return
	}
	outcome := "ok"
	var re *adapters.RetryableError
	var pe *adapters.PermanentError
	switch {
	case err == nil:
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		outcome = "breaker_open"
	case errors.As(err, &pe):
		outcome = "permanent"
	case errors.As(err, &re):
		outcome = "retryable"
	default:
		outcome = "error"
	}
	r.cfg.Observer.Attempt(kind, ch, provider, outcome, d)
}

// pacer spaces sends per sender: a sender with rate N/s sends at most one message every
// 1/N seconds. A message that must wait is retried at its slot; it never fails.
type pacer struct {
	mu   sync.Mutex
	next map[string]time.Time
}

func (p *pacer) take(key string, perSecond float64, now time.Time) (time.Time, bool) {
	if perSecond <= 0 {
		return time.Time{}, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	interval := time.Duration(float64(time.Second) / perSecond)
	at := p.next[key]
	if at.After(now) {
		return at, false
	}
	p.next[key] = now.Add(interval)
	return time.Time{}, true
}
