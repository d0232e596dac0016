package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
)

// TestOpenDedupeIsPerIntegration: two open-messaging integrations number their
// messages independently; the same id from each is two messages, and a retry of either
// is one.
func TestOpenDedupeIsPerIntegration(t *testing.T) {
	st := openStore(t)
	queues := map[string]omnigate.Queue{
		"support": {ID: "support", Addresses: map[omnigate.Channel]string{omnigate.Open: "web-widget"}},
		"billing": {ID: "billing", Addresses: map[omnigate.Channel]string{omnigate.Open: "app-chat"}},
	}
	svc, err := messaging.New(messaging.Config{Store: st, Policy: policy.Default,
		Queues: func() map[string]omnigate.Queue { return queues }, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	in := func(integration string) adapters.Event {
		return adapters.Event{Kind: adapters.EventMessage, Channel: omnigate.Open, ProviderMessageID: "1",
			Address: integration, ContactAddress: "visitor-7", Text: "hi from " + integration}
	}
	for _, tc := range []struct {
		integration      string
		stored, repeated int
	}{{"web-widget", 1, 0}, {"app-chat", 1, 0}, {"web-widget", 0, 1}, {"app-chat", 0, 1}} {
		got, err := svc.Ingest(context.Background(), "open", []adapters.Event{in(tc.integration)})
		if err != nil || got.Stored != tc.stored || got.Duplicates != tc.repeated {
			t.Errorf("message 1 from %s: %+v (%v), want stored %d duplicates %d", tc.integration, got, err, tc.stored, tc.repeated)
		}
	}
}
