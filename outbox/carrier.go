package outbox

import (
	"context"
	"errors"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// errMessageGone: the row's message no longer exists; there is nothing to deliver.
var errMessageGone = errors.New("outbox: the message is gone")

// Carriers sends outbound messages through the adapter registered for their channel.
// Carrier details such as status-callback URLs are the adapter's own business.
func Carriers(reg *adapters.Registry) Sender {
	return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
		m := e.Message
		if m == nil {
			return adapters.Receipt{}, errMessageGone
		}
		a, ok := reg.For(m.Channel)
		if !ok {
			return adapters.Receipt{}, adapters.Permanent("no_carrier", "no carrier is configured for channel "+string(m.Channel), nil)
		}
		out := adapters.Outbound{MessageID: m.ID, Channel: m.Channel, From: m.From, To: m.To, Text: m.Text,
			Template: m.Template, Media: m.Media, Tag: m.Tag}
		return a.Send(ctx, out)
	})
}

// carrierLabels names an outbound message's carrier for breakers and metrics.
func carrierLabels(reg *adapters.Registry) func(e store.Entry) (account string, ch omnigate.Channel, provider string) {
	return func(e store.Entry) (string, omnigate.Channel, string) {
		if e.Message == nil {
			return "", "", ""
		}
		a, ok := reg.For(e.Message.Channel)
		if !ok {
			return "", e.Message.Channel, ""
		}
		return a.Account(), e.Message.Channel, a.Provider()
	}
}
