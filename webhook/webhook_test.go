package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters/open"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/webhook"
)

const secret = "s3cret"

// inbound is an open-messaging inbound text, as an integration posts it.
const inbound = `{
  "channel": {
    "platform": "Open", "type": "Private", "messageId": "in-0001",
    "to": {"id": "web-widget"},
    "from": {"id": "contact-42", "idType": "Opaque", "nickname": "Ann"},
    "time": "2026-03-26T20:06:58.803Z"
  },
  "type": "Text", "text": "hi, is my order on its way?", "direction": "Inbound"
}`

func sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// newWebhook serves /webhooks/open/{integration} over a real SQLite store.
func newWebhook(t *testing.T) (string, store.Store) {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "omnigate.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	queues := map[string]omnigate.Queue{"support": {ID: "support", Addresses: map[omnigate.Channel]string{omnigate.Open: "web-widget"}}}
	pol := policy.Default()
	svc, err := messaging.New(messaging.Config{Store: st, Policy: func() *policy.Policy { return pol },
		Queues: func() map[string]omnigate.Queue { return queues }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := open.New(open.Config{Integrations: map[string]open.Integration{
		"web-widget": {OutboundURL: "http://127.0.0.1:1/unused", Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/open/{integration}", &webhook.Handler{Adapter: a, Ingester: svc, Log: discard()})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/webhooks/open/web-widget", st
}

func post(t *testing.T, url string, body []byte, signature string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(open.SignatureHeader, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// stored returns the messages kept for contact-42.
func stored(t *testing.T, st store.Store) []omnigate.Message {
	t.Helper()
	ctx := context.Background()
	cs, err := st.Conversations(ctx, omnigate.Open, "contact-42", 10)
	if err != nil {
		t.Fatal(err)
	}
	var out []omnigate.Message
	for _, c := range cs {
		ms, err := st.ConversationMessages(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ms...)
	}
	return out
}

// TestRetriedInboundIsStoredOnce: a carrier that retries a delivery gets 200 each time,
// and the message is kept once.
func TestRetriedInboundIsStoredOnce(t *testing.T) {
	t.Parallel()
	url, st := newWebhook(t)
	body := []byte(inbound)
	for i := range 2 {
		if code, answer := post(t, url, body, sign(body)); code != http.StatusOK {
			t.Fatalf("post %d: %d %s", i+1, code, answer)
		}
	}
	ms := stored(t, st)
	if len(ms) != 1 {
		t.Fatalf("%d messages stored, want 1: %+v", len(ms), ms)
	}
	if m := ms[0]; m.Direction != omnigate.Inbound || m.Text != "hi, is my order on its way?" {
		t.Errorf("stored %+v", m)
	}
}

// TestWebhookRefusals: what is refused is answered with the right status and stores
// nothing; a bad signature's answer never reveals the expected one.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	good := []byte(inbound)
	malformed := []byte(`{"channel": {"messageId": "in-0002"`)
	huge := []byte(`{"type":"Text","text":"` + strings.Repeat("x", 1<<20) + `"}`)
	for _, tc := range []struct {
		name      string
		body      []byte
		signature string
		status    int
	}{
		{"missing signature", good, "", http.StatusUnauthorized},
		{"wrong signature", good, "sha256=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), http.StatusUnauthorized},
		{"signature of another body", good, sign([]byte(inbound + " ")), http.StatusUnauthorized},
		{"body over 1 MiB", huge, sign(huge), http.StatusRequestEntityTooLarge},
		{"malformed JSON", malformed, sign(malformed), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, st := newWebhook(t)
			code, answer := post(t, url, tc.body, tc.signature)
			if code != tc.status {
				t.Errorf("got %d %s, want %d", code, answer, tc.status)
			}
			expected := strings.TrimPrefix(sign(tc.body), "sha256=")
			if strings.Contains(answer, expected) || strings.Contains(answer, secret) {
				t.Errorf("the answer reveals the expected signature or the secret: %s", answer)
			}
			if ms := stored(t, st); len(ms) != 0 {
				t.Errorf("a refused post stored %d messages", len(ms))
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
