package outbox

import (
	"context"
	"errors"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

// ErrNoTyping: the channel's carrier has no typing indicator (or none is configured).
var ErrNoTyping = errors.New("outbox: the channel's carrier has no typing indicator")

// Typing shows or hides a typing indicator through the breaker of the channel's
// carrier account, bounded by the attempt timeout: a carrier known to be down is not
// asked, and failures count towards opening its breaker like a send's would.
func (r *Relay) Typing(ctx context.Context, ch omnigate.Channel, from, to string, on bool) error {
	a, ok := r.cfg.Registry.For(ch)
	t, canType := a.(adapters.Typer)
	if !ok || !canType {
		return ErrNoTyping
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	_, err := r.breakers.For(a.Account()).Execute(func() (adapters.Receipt, error) {
		return adapters.Receipt{}, t.Typing(ctx, ch, from, to, on)
	})
	return err
}
