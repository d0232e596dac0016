package outbox

import (
	"context"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// Sender delivers one claimed outbox entry: an outbound message to its carrier, or a
// platform event to events.url. The relay turns what it returns into the row's
// outcome (outcome.go): nil is done; *adapters.RetryableError and other errors are
// retried with backoff; *adapters.PermanentError fails a message and dead-letters an
// event; *adapters.PolicyDeniedError fails a message before any carrier saw it;
// ErrAlreadyAccepted completes the row without sending; an open circuit breaker waits
// without spending an attempt.
type Sender interface {
	Send(ctx context.Context, e store.Entry) (adapters.Receipt, error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, e store.Entry) (adapters.Receipt, error)

// Send implements Sender.
func (f SenderFunc) Send(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
	return f(ctx, e)
}

// Wrapper adds one concern around a Sender: policy recheck, breaker, timeout,
// observation.
type Wrapper func(Sender) Sender

// Chain returns s inside ws, the first wrapper outermost: Chain(s, a, b) sends
// through a, then b, then s.
func Chain(s Sender, ws ...Wrapper) Sender {
	for i := len(ws) - 1; i >= 0; i-- {
		s = ws[i](s)
	}
	return s
}
