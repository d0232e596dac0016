package outbox

import (
	"context"
	"errors"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// ErrAlreadyAccepted: a carrier's receipt proved it has the message (a status
// callback after a crash between the carrier's acceptance and our commit, or after an
// attempt that timed out on our side). The row completes without a second send.
var ErrAlreadyAccepted = errors.New("outbox: the carrier already accepted this message")

// SkipAccepted refuses to send a message that a receipt already proved accepted: one
// with the carrier's id, or a status the carrier reported (sent or beyond).
func SkipAccepted() Wrapper {
	return func(next Sender) Sender {
		return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
			if m := e.Message; m != nil && (m.ProviderMessageID != "" || m.Status.Rank() >= omnigate.StatusSent.Rank()) {
				return adapters.Receipt{}, ErrAlreadyAccepted
			}
			return next.Send(ctx, e)
		})
	}
}
