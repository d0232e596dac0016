package x_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/adapters/x"
)

const (
	secret  = "consumer-secret"
	us      = "1234567890"
	token   = "user-token"
	contact = "3001969357"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newX(t testing.TB, baseURL string) *x.X {
	t.Helper()
	a, err := x.New(x.Config{
		ConsumerSecret: secret, BearerTokens: map[string]string{us: token},
		BaseURL: baseURL, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func signed(t *testing.T, name string) (*http.Request, []byte) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/webhooks/x", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(x.SignatureHeader, x.Sign(secret, body))
	return r, body
}

func problem(status int, body string, header http.Header) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, adaptertest.Harness{
		New:     func(t *testing.T, baseURL string) adapters.Adapter { return newX(t, baseURL) },
		Message: adapters.Outbound{MessageID: "msg-1", Channel: omnigate.X, From: us, To: contact, Text: "hello"},
		Accept: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"data":{"dm_conversation_id":"1234567890-3001969357","dm_event_id":"1582838524446875648"}}`)
		},
		WantProviderID: "1582838524446875648",
		Throttle: problem(http.StatusTooManyRequests, `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`,
			http.Header{"X-Rate-Limit-Reset": {strconv.FormatInt(now.Add(90*time.Second).Unix(), 10)}, "X-Rate-Limit-Remaining": {"0"}}),
		WantRetryAfter: 90 * time.Second,
		Reject: problem(http.StatusBadRequest, `{"errors":[{"parameters":{"participant_id":["abc"]},"message":"The participant_id query parameter value [abc] is not valid"}],
			"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.x.com/2/problems/invalid-request"}`, nil),
		WantCode:   "invalid-request",
		Webhook:    func(t *testing.T) (*http.Request, []byte) { return signed(t, "dm_batch.json") },
		WantEvents: 3,
	})
}

func TestCRC(t *testing.T) {
	t.Parallel()
	a, err := x.New(x.Config{ConsumerSecret: "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.Challenge(w, httptest.NewRequest(http.MethodGet, "/webhooks/x?crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8="; got["response_token"] != want {
		t.Errorf("response_token = %q, want %q", got["response_token"], want)
	}
	w = httptest.NewRecorder()
	a.Challenge(w, httptest.NewRequest(http.MethodGet, "/webhooks/x", nil))
	if w.Code != http.StatusBadRequest {
		t.Errorf("no crc_token: status %d, want 400", w.Code)
	}
}

func TestSendBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		out      adapters.Outbound
		wantBody string
	}{
		{"text", adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "Hi Jordan"}, `{"text":"Hi Jordan"}`},
		{"text with a media link", adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "See",
			Media: []omnigate.Media{{URL: "https://cdn.example.com/a.png", ContentType: "image/png"}}},
			`{"text":"See\nhttps://cdn.example.com/a.png"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path, auth string
			var body map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, auth = r.URL.Path, r.Header.Get("Authorization")
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Error(err)
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"data":{"dm_conversation_id":"c","dm_event_id":"1582838524446875648"}}`)
			}))
			defer srv.Close()
			rc, err := newX(t, srv.URL).Send(context.Background(), tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if rc.ProviderMessageID != "1582838524446875648" || rc.Status != omnigate.StatusSent {
				t.Errorf("receipt = %+v", rc)
			}
			if want := "/2/dm_conversations/with/" + contact + "/messages"; path != want {
				t.Errorf("path = %q, want %q", path, want)
			}
			if auth != "Bearer "+token {
				t.Errorf("authorization = %q", auth)
			}
			var want map[string]any
			_ = json.Unmarshal([]byte(tt.wantBody), &want)
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		out       adapters.Outbound
		handler   http.HandlerFunc
		retryable bool
		code      string
	}{
		{"media only", adapters.Outbound{Channel: omnigate.X, From: us, To: contact,
			Media: []omnigate.Media{{URL: "https://e/a.png"}}}, nil, false, "media_unsupported"},
		{"unknown sender", adapters.Outbound{Channel: omnigate.X, From: "42", To: contact, Text: "x"}, nil, false, "unknown_sender"},
		{"forbidden without a problem type", adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "x"},
			problem(http.StatusForbidden, `{"detail":"You are not permitted to create a one-to-one DM conversation with the participant: 3001969357","type":"about:blank","title":"Forbidden","status":403}`, nil),
			false, "http_403"},
		{"error object", adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "x"},
			problem(http.StatusUnauthorized, `{"code":89,"message":"Invalid or expired token."}`, nil), false, "89"},
		{"resource not found", adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "x"},
			problem(http.StatusNotFound, `{"title":"Not Found Error","detail":"Could not find user","type":"https://api.x.com/2/problems/resource-not-found","resource_type":"user"}`, nil),
			false, "resource-not-found"},
		{"unavailable", adapters.Outbound{Channel: omnigate.X, From: us, To: contact, Text: "x"},
			problem(http.StatusServiceUnavailable, `{"title":"Service Unavailable","type":"about:blank","status":503}`, http.Header{"Retry-After": {"60"}}),
			true, "http_503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := "http://127.0.0.1:1"
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				base = srv.URL
			}
			_, err := newX(t, base).Send(context.Background(), tt.out)
			adaptertest.CheckClass(t, err, adaptertest.Class{Retryable: tt.retryable, Code: tt.code})
		})
	}
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	tests := []struct {
		file string
		want []adapters.Event
	}{
		{"dm_batch.json", []adapters.Event{
			{Kind: adapters.EventMessage, Channel: omnigate.X, ProviderMessageID: "954491830116155396",
				Address: us, ContactAddress: contact, ContactName: "Jordan Brinks", Text: "Hello World!", Timestamp: ms(1516403560557)},
			{Kind: adapters.EventEcho, Channel: omnigate.X, ProviderMessageID: "954491830116155397",
				Address: us, ContactAddress: contact, ContactName: "Jordan Brinks", Text: "Hi Jordan, how can we help?", Timestamp: ms(1516403570557)},
			{Kind: adapters.EventMessage, Channel: omnigate.X, ProviderMessageID: "954491830116155398",
				Address: us, ContactAddress: contact, ContactName: "Jordan Brinks", Text: "This one https://t.co/WpRJ8Ec3Xv",
				Media:     []omnigate.Media{{URL: "https://ton.twitter.com/1.1/ton/data/dm/954491830116155398/954491826161393664/fb2cGeLn.jpg", ContentType: "image/*"}},
				Timestamp: ms(1516403580557)},
		}},
		{"typing.json", []adapters.Event{
			{Kind: adapters.EventTyping, Channel: omnigate.X, Typing: true, Address: us, ContactAddress: contact,
				ContactName: "Jordan Brinks", Timestamp: ms(1518127183443)},
			{Kind: adapters.EventStatus, Channel: omnigate.X, Status: omnigate.StatusRead, ProviderMessageID: "954491830116155397",
				Address: us, ContactAddress: contact, Timestamp: ms(1518452444662)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			r, body := signed(t, tt.file)
			got, err := newX(t, "http://127.0.0.1:1").ParseWebhook(r, body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWebhookRejects(t *testing.T) {
	t.Parallel()
	a := newX(t, "http://127.0.0.1:1")
	r, body := signed(t, "dm_batch.json")
	r.Header.Set(x.SignatureHeader, x.Sign("other", body))
	if _, err := a.ParseWebhook(r, body); !errors.Is(err, adapters.ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	junk := []byte(`[1,2`)
	r.Header.Set(x.SignatureHeader, x.Sign(secret, junk))
	if _, err := a.ParseWebhook(r, junk); !errors.Is(err, adapters.ErrMalformed) {
		t.Errorf("junk: %v", err)
	}
}

// TestCRCIsNoSigningOracle plays the attack: ask the CRC endpoint to "sign" a webhook
// body, then post that body with the answer. Only X-shaped tokens are answered, so the
// forged DM is refused.
func TestCRCIsNoSigningOracle(t *testing.T) {
	t.Parallel()
	a := newX(t, "")
	_, body := signed(t, "dm_batch.json")
	hostile := []string{
		string(body),
		`{"for_user_id":"1"}`,
		"a b",
		"token\n",
		string(bytes.Repeat([]byte("a"), x.MaxCRCToken+1)),
	}
	for _, tok := range hostile {
		w := httptest.NewRecorder()
		a.Challenge(w, httptest.NewRequest(http.MethodGet, "/webhooks/x?crc_token="+url.QueryEscape(tok), nil))
		if w.Code != http.StatusBadRequest {
			t.Errorf("crc_token %.40q: status %d, want 400", tok, w.Code)
		}
		var got map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		if got["response_token"] != "" {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/x", bytes.NewReader([]byte(tok)))
			r.Header.Set(x.SignatureHeader, got["response_token"])
			if _, err := a.ParseWebhook(r, []byte(tok)); err == nil {
				t.Errorf("crc_token %.40q: the answer signs a webhook that is accepted", tok)
			}
		}
		if bytes.Contains(w.Body.Bytes(), []byte(x.Sign(secret, []byte(tok)))) {
			t.Errorf("crc_token %.40q: the answer carries its HMAC", tok)
		}
	}
	// Two tokens: which one would be signed is ambiguous, so neither is.
	w := httptest.NewRecorder()
	a.Challenge(w, httptest.NewRequest(http.MethodGet, "/webhooks/x?crc_token=abc&crc_token=def", nil))
	if w.Code != http.StatusBadRequest {
		t.Errorf("two crc_tokens: status %d, want 400", w.Code)
	}
	for _, tok := range []string{"9b4507b3-9040-4669-9ca3-6b94edb50553", "MzE5YjdiMjctZDY0Ni00NDQyLWE3ZjktYmU3NzUxZWFlMmNi", "a+b/c=_.-"} {
		if !x.CRCToken(tok) {
			t.Errorf("CRCToken(%q) = false, want true", tok)
		}
	}
}
