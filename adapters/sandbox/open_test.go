package sandbox_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/open"
	"github.com/omnigate/omnigate/adapters/sandbox"
)

// TestOpenRoundTrip drives the real adapter against the sandbox integration and feeds
// what the sandbox posts back through the real adapter's ParseWebhook.
func TestOpenRoundTrip(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	const integration, secret = "web-widget", "sandbox-secret"
	var a *open.Open
	events := make(chan adapters.Event, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/open/{integration}", func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		evs, err := a.ParseWebhook(r, body.Bytes())
		if err != nil {
			t.Errorf("ParseWebhook: %v", err)
			http.Error(w, "rejected", http.StatusBadRequest)
			return
		}
		for _, ev := range evs {
			events <- ev
		}
	})
	omnigateSrv := httptest.NewServer(mux)
	defer omnigateSrv.Close()

	poster := &sandbox.Poster{Client: omnigateSrv.Client(), Delay: time.Millisecond}
	carrier := httptest.NewServer(sandbox.NewOpen(sandbox.OpenConfig{
		Integration: integration,
		Secret:      secret,
		WebhookURL:  omnigateSrv.URL + "/webhooks/open/" + integration,
		Poster:      poster,
	}))
	defer carrier.Close()
	defer poster.Close() // before the servers close: posts in flight finish first

	var err error
	a, err = open.New(open.Config{
		Integrations: map[string]open.Integration{integration: {OutboundURL: carrier.URL, Secret: secret}},
		HTTPClient:   carrier.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	question := adapters.Outbound{MessageID: "msg-1", Channel: omnigate.Open, From: integration, To: "contact-42", Text: "Did that help?"}
	rc, err := a.Send(ctx, question)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rc.ProviderMessageID != "msg-1" || rc.Status != omnigate.StatusSent {
		t.Errorf("receipt = %+v", rc)
	}
	if err := a.Typing(ctx, omnigate.Open, integration, "contact-42", true); err != nil {
		t.Errorf("Typing: %v", err)
	}
	statement := question
	statement.MessageID, statement.Text = "msg-2", "Your order ships today."
	if _, err := a.Send(ctx, statement); err != nil {
		t.Fatalf("Send: %v", err)
	}

	want := []adapters.Event{
		{Kind: adapters.EventStatus, Channel: omnigate.Open, MessageID: "msg-1", ProviderMessageID: "msg-1",
			Address: integration, ContactAddress: "contact-42", Status: omnigate.StatusDelivered},
		{Kind: adapters.EventMessage, Channel: omnigate.Open, Address: integration, ContactAddress: "contact-42",
			ContactName: "Sandbox Customer", Text: sandbox.ReplyText("Did that help?")},
		{Kind: adapters.EventStatus, Channel: omnigate.Open, MessageID: "msg-2", ProviderMessageID: "msg-2",
			Address: integration, ContactAddress: "contact-42", Status: omnigate.StatusDelivered},
	}
	var got []adapters.Event
	timeout := time.After(5 * time.Second)
	for len(got) < len(want) {
		select {
		case ev := <-events:
			if ev.Kind == adapters.EventMessage && ev.ProviderMessageID == "" {
				t.Errorf("reply without a message id: %+v", ev)
			}
			if ev.Timestamp.IsZero() {
				t.Errorf("event without a time: %+v", ev)
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("got %d of %d webhook events: %+v", len(got), len(want), got)
		}
	}
	// Poster runs each post on its own goroutine, so webhooks may arrive in any order,
	// as carriers' do.
	byKey := cmpopts.SortSlices(func(a, b adapters.Event) bool { return a.MessageID+a.Text < b.MessageID+b.Text })
	if diff := cmp.Diff(want, got, byKey, cmpopts.IgnoreFields(adapters.Event{}, "ProviderMessageID", "Timestamp")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestOpenRejectsUnsignedPosts(t *testing.T) {
	t.Parallel()
	poster := &sandbox.Poster{}
	defer poster.Close()
	h := sandbox.NewOpen(sandbox.OpenConfig{Integration: "web-widget", Secret: "s", WebhookURL: "http://127.0.0.1:1/", Poster: poster})
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(`{"type":"Text"}`)))
	r.Header.Set("X-Hub-Signature-256", "sha256=AAAA")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", w.Code)
	}
}
