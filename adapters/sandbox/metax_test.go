package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/adapters/x"
)

// receiver stands in for omnigate's webhook endpoint: it verifies and parses each post
// with the real adapter and hands the events over.
func receiver(t *testing.T, parse func() adapters.Adapter) (*httptest.Server, <-chan adapters.Event) {
	t.Helper()
	events := make(chan adapters.Event, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		evs, err := parse().ParseWebhook(r, body)
		if err != nil {
			t.Errorf("ParseWebhook: %v", err)
			http.Error(w, "rejected", http.StatusUnauthorized)
			return
		}
		for _, ev := range evs {
			events <- ev
		}
	}))
	return srv, events
}

// await collects events until want reports every expectation met, or fails.
func await(t *testing.T, events <-chan adapters.Event, want func([]adapters.Event) bool) []adapters.Event {
	t.Helper()
	var got []adapters.Event
	deadline := time.After(5 * time.Second)
	for !want(got) {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("timed out; got %+v", got)
		}
	}
	return got
}

func find(evs []adapters.Event, match func(adapters.Event) bool) (adapters.Event, bool) {
	for _, ev := range evs {
		if match(ev) {
			return ev, true
		}
	}
	return adapters.Event{}, false
}

func TestMetaSandbox(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const (
		secret = "sandbox-app-secret"
		page   = "104512345678"
		ig     = "17841400000000"
		number = "+15550002222"
		pnid   = "1098765"
	)
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	var adapter *meta.Meta
	hook, events := receiver(t, func() adapters.Adapter { return adapter })
	defer hook.Close()
	poster := &sandbox.Poster{Client: client}
	defer poster.Close()

	carrier, err := sandbox.NewMeta(sandbox.MetaConfig{
		AppSecret: secret, WebhookURL: hook.URL + "/webhooks/meta",
		PhoneNumberIDs: map[string]string{pnid: number}, InstagramIDs: []string{ig}, Poster: poster,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/meta/", http.StripPrefix("/sandbox/meta", carrier))
	graph := httptest.NewServer(mux)
	defer graph.Close()

	adapter, err = meta.New(meta.Config{
		AppSecret: secret, VerifyToken: "v",
		PageTokens:    map[string]string{page: "sandbox", ig: "sandbox"},
		WhatsAppToken: "sandbox", WhatsAppPhoneNumberIDs: map[string]string{number: pnid},
		GraphURL: graph.URL + "/sandbox/meta", APIVersion: "v23.0", HTTPClient: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("messenger delivery and reply", func(t *testing.T) {
		rc, err := adapter.Send(ctx, adapters.Outbound{Channel: omnigate.Messenger, From: page, To: "1254459154682919", Text: "Can we help?"})
		if err != nil {
			t.Fatal(err)
		}
		got := await(t, events, func(evs []adapters.Event) bool {
			_, delivered := find(evs, func(e adapters.Event) bool {
				return e.Kind == adapters.EventStatus && e.ProviderMessageID == rc.ProviderMessageID && e.Status == omnigate.StatusDelivered
			})
			_, replied := find(evs, func(e adapters.Event) bool { return e.Kind == adapters.EventMessage })
			return delivered && replied
		})
		reply, _ := find(got, func(e adapters.Event) bool { return e.Kind == adapters.EventMessage })
		if reply.Channel != omnigate.Messenger || reply.Address != page || reply.ContactAddress != "1254459154682919" ||
			reply.Text != sandbox.ReplyText("Can we help?") {
			t.Errorf("reply = %+v", reply)
		}
	})

	t.Run("instagram delivery without a reply", func(t *testing.T) {
		rc, err := adapter.Send(ctx, adapters.Outbound{Channel: omnigate.Instagram, From: ig, To: "5318329871523944", Text: "Thanks", Tag: "HUMAN_AGENT"})
		if err != nil {
			t.Fatal(err)
		}
		got := await(t, events, func(evs []adapters.Event) bool { return len(evs) == 1 })
		if ev := got[0]; ev.Channel != omnigate.Instagram || ev.Kind != adapters.EventStatus || ev.ProviderMessageID != rc.ProviderMessageID {
			t.Errorf("event = %+v", ev)
		}
	})

	t.Run("whatsapp statuses and reply", func(t *testing.T) {
		rc, err := adapter.Send(ctx, adapters.Outbound{Channel: omnigate.WhatsApp, From: number, To: "+16505551234", Text: "In stock?"})
		if err != nil {
			t.Fatal(err)
		}
		got := await(t, events, func(evs []adapters.Event) bool { return len(evs) == 3 })
		var statuses []omnigate.MessageStatus
		for _, ev := range got {
			switch ev.Kind {
			case adapters.EventStatus:
				if ev.ProviderMessageID != rc.ProviderMessageID || ev.Address != number {
					t.Errorf("status = %+v", ev)
				}
				statuses = append(statuses, ev.Status)
			case adapters.EventMessage:
				if ev.ContactName != "Sandbox Customer" || ev.ContactAddress != "+16505551234" || ev.Address != number ||
					ev.Text != sandbox.ReplyText("In stock?") {
					t.Errorf("reply = %+v", ev)
				}
			}
		}
		if len(statuses) != 2 || statuses[0] != omnigate.StatusSent || statuses[1] != omnigate.StatusDelivered {
			t.Errorf("statuses = %v, want sent then delivered", statuses)
		}
	})

	t.Run("typing posts nothing", func(t *testing.T) {
		if err := adapter.Typing(ctx, omnigate.Messenger, page, "1254459154682919", true); err != nil {
			t.Fatal(err)
		}
	})

	poster.Close()
	select {
	case ev := <-events:
		t.Errorf("unexpected event %+v", ev)
	default:
	}
}

func TestXSandbox(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const (
		secret  = "sandbox-consumer-secret"
		us      = "1234567890"
		contact = "3001969357"
	)
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	var adapter *x.X
	hook, events := receiver(t, func() adapters.Adapter { return adapter })
	defer hook.Close()
	poster := &sandbox.Poster{Client: client}
	defer poster.Close()

	carrier, err := sandbox.NewX(sandbox.XConfig{
		ConsumerSecret: secret, WebhookURL: hook.URL + "/webhooks/x",
		Tokens: map[string]string{"sandbox-token": us}, Poster: poster,
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(http.StripPrefix("/sandbox/x", carrier))
	defer api.Close()
	adapter, err = x.New(x.Config{
		ConsumerSecret: secret, BearerTokens: map[string]string{us: "sandbox-token"},
		BaseURL: api.URL + "/sandbox/x", HTTPClient: client,
	})
	if err != nil {
		t.Fatal(err)
	}

	rc, err := adapter.Send(context.Background(), adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "Order number?"})
	if err != nil {
		t.Fatal(err)
	}
	if rc.ProviderMessageID == "" {
		t.Fatal("no dm_event_id")
	}
	got := await(t, events, func(evs []adapters.Event) bool { return len(evs) == 1 })
	if ev := got[0]; ev.Kind != adapters.EventMessage || ev.Address != us || ev.ContactAddress != contact ||
		ev.ContactName != "Sandbox Customer" || ev.Text != sandbox.ReplyText("Order number?") || ev.ProviderMessageID == rc.ProviderMessageID {
		t.Errorf("reply = %+v", ev)
	}

	// X refuses a token it does not know and a participant id that is not a number.
	var pe *adapters.PermanentError
	stranger, _ := x.New(x.Config{ConsumerSecret: secret, BearerTokens: map[string]string{us: "stolen"},
		BaseURL: api.URL + "/sandbox/x", HTTPClient: client})
	if _, err := stranger.Send(context.Background(), adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "hi"}); !errors.As(err, &pe) || pe.Code != "http_401" {
		t.Errorf("unknown token: %v", err)
	}
	if _, err := adapter.Send(context.Background(), adapters.Outbound{Channel: omnigate.X, From: us, To: "@jordan", Text: "hi"}); !errors.As(err, &pe) || pe.Code != "invalid-request" {
		t.Errorf("bad participant: %v", err)
	}

	// A statement gets no reply, and X posts no receipts.
	if _, err := adapter.Send(context.Background(), adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "Done."}); err != nil {
		t.Fatal(err)
	}
	poster.Close()
	select {
	case ev := <-events:
		t.Errorf("unexpected event %+v", ev)
	default:
	}
}
