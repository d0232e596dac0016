package outbox

import (
	"context"
	"time"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// Timeout bounds one attempt. The relay keeps it clearly shorter than a lease, so an
// attempt that started on a live lease ends before the lease could.
func Timeout(d time.Duration) Wrapper {
	return func(next Sender) Sender {
		return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next.Send(ctx, e)
		})
	}
}
