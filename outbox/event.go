package outbox

import (
	"context"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/store"
)

// Events posts platform events to the sink. With no sink (events were turned off after
// the event was written) the event is dropped.
func Events(sink *events.Sink) Sender {
	return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
		if sink == nil {
			return adapters.Receipt{}, nil
		}
		return adapters.Receipt{}, sink.Post(ctx, e.Payload)
	})
}

// platformLabels names the platform for breakers and metrics.
func platformLabels(store.Entry) (string, omnigate.Channel, string) {
	return "platform", "", "platform"
}
