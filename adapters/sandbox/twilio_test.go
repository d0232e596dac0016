package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/adapters/twilio"
)

const (
	sandboxSID   = "AC0123456789abcdef0123456789abcdef"
	sandboxToken = "0123456789abcdef0123456789abcdef"
)

// TestTwilioRoundTrip sends through the real Twilio adapter to the sandbox Twilio, which
// posts signed status callbacks and a customer reply back to a receiver that verifies
// them with the adapter's ParseWebhook, as omnigate's webhook endpoint does.
func TestTwilioRoundTrip(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	events := make(chan adapters.Event, 10)
	var adapter *twilio.Twilio
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := adapter.ParseWebhook(r, body)
		if err != nil {
			t.Errorf("ParseWebhook %s: %v", r.URL, err)
			http.Error(w, "rejected", http.StatusUnauthorized)
			return
		}
		for _, ev := range evs {
			events <- ev
		}
		adapter.Acknowledge(w, r)
	}))
	defer receiver.Close()

	poster := &sandbox.Poster{}
	defer poster.Close()
	fake := sandbox.NewTwilio(sandbox.TwilioConfig{
		AccountSID: sandboxSID, AuthToken: sandboxToken,
		InboundURL: receiver.URL + "/webhooks/twilio", Poster: poster,
	})
	carrier := httptest.NewServer(http.StripPrefix("/sandbox/twilio", fake))
	defer carrier.Close()

	var err error
	adapter, err = twilio.New(twilio.Config{
		AccountSID: sandboxSID, AuthToken: sandboxToken,
		BaseURL: carrier.URL + "/sandbox/twilio", PublicURL: receiver.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := adapter.Send(context.Background(), adapters.Outbound{
		MessageID: "msg-42", Channel: omnigate.WhatsApp, From: "+15550002222", To: "+447700900123",
		Text: "Did your parcel arrive?", StatusCallback: receiver.URL + "/webhooks/twilio/status?mid=msg-42",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(rc.ProviderMessageID) != 34 || rc.ProviderMessageID[:2] != "SM" || rc.Status != omnigate.StatusSent {
		t.Errorf("receipt = %+v", rc)
	}

	var got []adapters.Event
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("got %d webhook events, want 3: %+v", len(got), got)
		}
	}
	status := func(s omnigate.MessageStatus) adapters.Event {
		return adapters.Event{Kind: adapters.EventStatus, Channel: omnigate.WhatsApp,
			ProviderMessageID: rc.ProviderMessageID, MessageID: "msg-42",
			Address: "+15550002222", ContactAddress: "+447700900123", Status: s}
	}
	want := []adapters.Event{
		status(omnigate.StatusSent), status(omnigate.StatusDelivered),
		{Kind: adapters.EventMessage, Channel: omnigate.WhatsApp,
			Address: "+15550002222", ContactAddress: "+447700900123", ContactName: "Sandbox Customer",
			Text: "Thanks, got it: Did your parcel arrive?"},
	}
	// The poster does not promise order between posts, and the reply's id is random.
	opts := []cmp.Option{
		cmpopts.SortSlices(func(a, b adapters.Event) bool {
			return a.Kind+adapters.EventKind(a.Status) < b.Kind+adapters.EventKind(b.Status)
		}),
		cmpopts.IgnoreFields(adapters.Event{}, "ProviderMessageID"),
	}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, ev := range got {
		if ev.Kind == adapters.EventMessage && (ev.ProviderMessageID == "" || ev.ProviderMessageID == rc.ProviderMessageID) {
			t.Errorf("reply MessageSid = %q, want a new sid", ev.ProviderMessageID)
		}
		if ev.Kind == adapters.EventStatus && ev.ProviderMessageID != rc.ProviderMessageID {
			t.Errorf("status for %q, want %q", ev.ProviderMessageID, rc.ProviderMessageID)
		}
	}

	sent := fake.Sent()
	if len(sent) != 1 || sent[0].Get("To") != "whatsapp:+447700900123" || sent[0].Get("Body") != "Did your parcel arrive?" {
		t.Errorf("Sent() = %v", sent)
	}
}

func TestTwilioRejects(t *testing.T) {
	t.Parallel()
	fake := sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: sandboxSID, AuthToken: sandboxToken})
	carrier := httptest.NewServer(fake)
	defer carrier.Close()

	tests := []struct {
		name     string
		token    string
		to       string
		wantCode string
	}{
		{"wrong auth token", "ffffffffffffffffffffffffffffffff", "+14155550123", "20003"},
		{"invalid To", sandboxToken, "12345", "21211"},
	}
	for _, tt := range tests {
		a, err := twilio.New(twilio.Config{AccountSID: sandboxSID, AuthToken: tt.token,
			BaseURL: carrier.URL, PublicURL: "https://omnigate.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Send(context.Background(), adapters.Outbound{Channel: omnigate.SMS,
			From: "+15550001111", To: tt.to, Text: "hello"})
		var pe *adapters.PermanentError
		if !errors.As(err, &pe) || pe.Code != tt.wantCode {
			t.Errorf("%s: err = %v, want permanent %s", tt.name, err, tt.wantCode)
		}
	}
	if n := len(fake.Sent()); n != 0 {
		t.Errorf("sandbox recorded %d rejected sends", n)
	}
}
