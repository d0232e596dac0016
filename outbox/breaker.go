package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// Breakers keeps one circuit breaker per carrier account (and one for the platform):
// five retryable failures in a row open it, and while it is open attempts wait without
// reaching the carrier or spending an attempt. A refused message is the message's
// problem, not the carrier's, and does not count.
type Breakers struct {
	Log      *slog.Logger
	Observer Observer
	Timeout  time.Duration // how long a breaker stays open (default 10s)

	m sync.Map // account -> *gobreaker.CircuitBreaker[adapters.Receipt]
}

// For returns the account's breaker.
func (b *Breakers) For(account string) *gobreaker.CircuitBreaker[adapters.Receipt] {
	if cb, ok := b.m.Load(account); ok {
		return cb.(*gobreaker.CircuitBreaker[adapters.Receipt])
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cb := gobreaker.NewCircuitBreaker[adapters.Receipt](gobreaker.Settings{
		Name:        account,
		MaxRequests: 1,
		Timeout:     timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		IsSuccessful: func(err error) bool {
			var re *adapters.RetryableError
			return err == nil || !errors.As(err, &re)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			if b.Log != nil {
				b.Log.Warn("outbox: circuit breaker changed state", "account", name, "from", from.String(), "to", to.String())
			}
			if b.Observer != nil {
				b.Observer.BreakerState(name, to.String())
			}
		},
	})
	actual, _ := b.m.LoadOrStore(account, cb)
	return actual.(*gobreaker.CircuitBreaker[adapters.Receipt])
}

// States reports each account's breaker state, for metrics and readiness.
func (b *Breakers) States() map[string]string {
	out := map[string]string{}
	b.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*gobreaker.CircuitBreaker[adapters.Receipt]).State().String()
		return true
	})
	return out
}

// Wrap sends through the breaker of the entry's account.
func (b *Breakers) Wrap(labels func(store.Entry) (string, omnigate.Channel, string)) Wrapper {
	return func(next Sender) Sender {
		return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
			account, _, _ := labels(e)
			return b.For(account).Execute(func() (adapters.Receipt, error) { return next.Send(ctx, e) })
		})
	}
}

// breakerOpen reports whether err is a breaker refusing to let the attempt through.
func breakerOpen(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}
