package open_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture string
		want    []adapters.Event
		wantErr error
	}{
		{fixture: "text_nickname.json", want: []adapters.Event{{
			Kind: adapters.EventMessage, Channel: omnigate.Open, ProviderMessageID: "in-0001",
			Address: "web-widget", ContactAddress: "contact-42", ContactName: "Ann",
			Text: "hi, is my order on its way?", Timestamp: at("2026-03-26T20:06:58.803Z"),
		}}},
		{fixture: "text_attachment.json", want: []adapters.Event{{
			Kind: adapters.EventMessage, Channel: omnigate.Open, ProviderMessageID: "in-0002",
			Address: "web-widget", ContactAddress: "ann@example.com", ContactName: "Ann Lee",
			Media:     []omnigate.Media{{URL: "https://cdn.example.com/receipt.png", ContentType: "image/png"}},
			Timestamp: at("2026-03-26T20:07:00Z"),
		}}},
		{fixture: "receipt_delivered.json", want: []adapters.Event{{
			Kind: adapters.EventStatus, Channel: omnigate.Open, MessageID: "msg-1", ProviderMessageID: "msg-1",
			Address: "web-widget", ContactAddress: "contact-42", Status: omnigate.StatusDelivered,
			Timestamp: at("2026-03-26T20:08:00Z"),
		}}},
		{fixture: "receipt_failed.json", want: []adapters.Event{{
			Kind: adapters.EventStatus, Channel: omnigate.Open, MessageID: "msg-2", ProviderMessageID: "msg-2",
			Address: "web-widget", ContactAddress: "contact-42", Status: omnigate.StatusFailed,
			ErrorCode: "RecipientOptedOut", ErrorMessage: "The recipient has blocked this sender",
			Timestamp: at("2026-03-26T20:09:00Z"),
		}}},
		{fixture: "typing.json", want: []adapters.Event{{
			Kind: adapters.EventTyping, Channel: omnigate.Open, Address: "web-widget",
			ContactAddress: "contact-42", Typing: true, Timestamp: at("2026-03-26T20:10:00Z"),
		}}},
		{fixture: "batch.json", want: []adapters.Event{{
			Kind: adapters.EventStatus, Channel: omnigate.Open, MessageID: "msg-1", ProviderMessageID: "msg-1",
			Address: "web-widget", ContactAddress: "contact-42", Status: omnigate.StatusRead,
			Timestamp: at("2026-03-26T20:11:00Z"),
		}, {
			Kind: adapters.EventMessage, Channel: omnigate.Open, ProviderMessageID: "in-0003",
			Address: "web-widget", ContactAddress: "contact-42", ContactName: "Ann",
			Text: "thanks!", Timestamp: at("2026-03-26T20:11:05Z"),
		}}},
		{fixture: "malformed.json", wantErr: adapters.ErrMalformed},
		{fixture: "unknown_type.json", wantErr: adapters.ErrMalformed},
		{fixture: "text_without_message_id.json", wantErr: adapters.ErrMalformed},
		{fixture: "receipt_unknown_status.json", wantErr: adapters.ErrMalformed},
		{fixture: "empty_batch.json", wantErr: adapters.ErrMalformed},
	}
	a := newAdapter(t, "http://127.0.0.1:1", nil)
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			body := readFixture(t, tt.fixture)
			got, err := a.ParseWebhook(signedWebhook(t, integrationID, secret, body), body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWebhookReadsTheIntegrationFromTheRoute(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "http://127.0.0.1:1", nil)
	body := readFixture(t, "typing.json")
	mux := http.NewServeMux()
	var got []adapters.Event
	var err error
	mux.HandleFunc("POST /webhooks/open/{integration}/", func(w http.ResponseWriter, r *http.Request) {
		got, err = a.ParseWebhook(r, body)
	})
	// A trailing slash would fool a naive last-segment rule; the route's value wins.
	mux.ServeHTTP(nil, signedWebhook(t, integrationID+"/", secret, body))
	if err != nil || len(got) != 1 || got[0].Address != integrationID {
		t.Fatalf("events %+v, err %v", got, err)
	}
}

func TestParseWebhookUnknownIntegrationLooksLikeABadSignature(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "http://127.0.0.1:1", nil)
	body := readFixture(t, "text_nickname.json")
	for name, r := range map[string]*http.Request{
		"unknown integration":          signedWebhook(t, "stranger", secret, body),
		"unknown, signed with no key":  signedWebhook(t, "stranger", "", body),
		"another integration's secret": signedWebhook(t, integrationID, "other-secret", body),
		"hex instead of base64":        withHeader(signedWebhook(t, integrationID, secret, body), "sha256=deadbeef"),
	} {
		_, err := a.ParseWebhook(r, body)
		if !errors.Is(err, adapters.ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", name, err)
		}
	}
}

func withHeader(r *http.Request, sig string) *http.Request {
	r.Header.Set("X-Hub-Signature-256", sig)
	return r
}
