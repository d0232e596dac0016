package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// Observer receives what the relay did, for metrics. A nil Observer is fine.
type Observer interface {
	// Attempt reports one attempt: kind ("deliver", "event"), channel, provider, outcome
	// (ok, retryable, permanent, breaker_open, error) and duration.
	Attempt(kind string, ch omnigate.Channel, provider string, outcome string, d time.Duration)
	// MessageStatus reports a status the relay committed for a message.
	MessageStatus(m omnigate.Message, status omnigate.MessageStatus)
	BreakerState(account string, state string)
	// Claim reports one claim transaction and how many rows it took.
	Claim(rows int)
}

// Observe reports each attempt's outcome and duration to o.
func Observe(o Observer, kind string, labels func(store.Entry) (string, omnigate.Channel, string)) Wrapper {
	return func(next Sender) Sender {
		if o == nil {
			return next
		}
		return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
			start := time.Now()
			rc, err := next.Send(ctx, e)
			_, ch, provider := labels(e)
			o.Attempt(kind, ch, provider, attemptOutcome(err), time.Since(start))
			return rc, err
		})
	}
}

func attemptOutcome(err error) string {
	var re *adapters.RetryableError
	var pe *adapters.PermanentError
	switch {
	case err == nil:
		return "ok"
	case breakerOpen(err):
		return "breaker_open"
	case errors.As(err, &pe):
		return "permanent"
	case errors.As(err, &re):
		return "retryable"
	}
	return "error"
}
