package open_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/adapters/open"
)

const (
	integrationID = "web-widget"
	secret        = "s3cr3t-shared-with-the-widget"
)

var fixedNow = time.Date(2026, 3, 26, 20, 6, 58, 803_000_000, time.UTC)

func newAdapter(t testing.TB, baseURL string, hc *http.Client) *open.Open {
	t.Helper()
	a, err := open.New(open.Config{
		Integrations: map[string]open.Integration{
			integrationID: {OutboundURL: baseURL + "/hook", Secret: secret},
			"other":       {OutboundURL: baseURL + "/other", Secret: "other-secret"},
		},
		HTTPClient: hc,
		Now:        func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// signature is written out independently of the adapter so that the two check each other.
func signature(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

var textMessage = adapters.Outbound{
	MessageID: "msg-1",
	Channel:   omnigate.Open,
	From:      integrationID,
	To:        "contact-42",
	Text:      "Your order ships today.",
}

func signedWebhook(t testing.TB, integration, key string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/open/"+integration, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Hub-Signature-256", signature(key, body))
	return r
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, baseURL string) adapters.Adapter {
			return newAdapter(t, baseURL, nil)
		},
		Message: textMessage,
		Accept: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"widget-77"}`)
		},
		WantProviderID: "widget-77",
		Throttle: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		},
		WantRetryAfter: 30 * time.Second,
		Reject: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"invalid.recipient","message":"no such contact","status":400}`)
		},
		WantCode: "invalid.recipient",
		Webhook: func(t *testing.T) (*http.Request, []byte) {
			body := readFixture(t, "text_nickname.json")
			return signedWebhook(t, integrationID, secret, body), body
		},
		WantEvents: 1,
	})
}

// fakeIntegration is an open-messaging integration endpoint: it checks the signature
// and records what it was sent.
type fakeIntegration struct {
	t      *testing.T
	bodies chan []byte
	answer func(w http.ResponseWriter)
}

func (f *fakeIntegration) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/hook" {
		f.t.Errorf("got %s %s, want POST /hook", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type = %q", ct)
	}
	if got, want := r.Header.Get("X-Hub-Signature-256"), signature(secret, body); got != want {
		f.t.Errorf("signature = %q, want %q", got, want)
		http.Error(w, `{"code":"bad.signature"}`, http.StatusUnauthorized)
		return
	}
	f.bodies <- body
	if f.answer != nil {
		f.answer(w)
	}
}

func startIntegration(t *testing.T, answer func(w http.ResponseWriter)) (*fakeIntegration, *httptest.Server) {
	t.Helper()
	f := &fakeIntegration{t: t, bodies: make(chan []byte, 10), answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func TestSendPostsSignedNormalizedText(t *testing.T) {
	t.Parallel()
	f, srv := startIntegration(t, nil) // 200 with no body
	a := newAdapter(t, srv.URL, nil)

	rc, err := a.Send(context.Background(), textMessage)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := adapters.Receipt{ProviderMessageID: "msg-1", Status: omnigate.StatusSent}
	if diff := cmp.Diff(want, rc); diff != "" {
		t.Errorf("receipt (-want +got):\n%s", diff)
	}
	got := string(<-f.bodies)
	wantBody := `{"id":"msg-1","channel":{"platform":"Open","type":"Private","messageId":"msg-1",` +
		`"to":{"id":"contact-42"},"from":{"id":"web-widget"},"time":"2026-03-26T20:06:58.803Z"},` +
		`"type":"Text","text":"Your order ships today.","direction":"Outbound"}`
	if got != wantBody {
		t.Errorf("body\n got %s\nwant %s", got, wantBody)
	}
}

func TestSendMediaAsAttachments(t *testing.T) {
	t.Parallel()
	f, srv := startIntegration(t, nil)
	a := newAdapter(t, srv.URL, nil)
	m := textMessage
	m.Text = ""
	m.Media = []omnigate.Media{
		{URL: "https://cdn.example.com/a.png", ContentType: "image/png"},
		{URL: "https://cdn.example.com/terms.pdf", ContentType: "application/pdf"},
	}
	if _, err := a.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(<-f.bodies, &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	json.Unmarshal([]byte(`{"id":"msg-1","channel":{"platform":"Open","type":"Private","messageId":"msg-1",
		"to":{"id":"contact-42"},"from":{"id":"web-widget"},"time":"2026-03-26T20:06:58.803Z"},
		"type":"Text","direction":"Outbound","content":[
		{"contentType":"Attachment","attachment":{"mediaType":"Image","url":"https://cdn.example.com/a.png","mime":"image/png"}},
		{"contentType":"Attachment","attachment":{"mediaType":"File","url":"https://cdn.example.com/terms.pdf","mime":"application/pdf"}}]}`), &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		message       func(m *adapters.Outbound)
		status        int
		header        map[string]string
		body          string
		wantRetryable bool
		wantCode      string
		wantAfter     time.Duration
		wantHits      int32
	}{
		{name: "4xx without a JSON body keeps the status as code", status: 403, body: "forbidden", wantCode: "403", wantHits: 1},
		{name: "numeric JSON code", status: 422, body: `{"code":4221,"message":"too long"}`, wantCode: "4221", wantHits: 1},
		{name: "500 is retryable and not retried inline", status: 500, wantRetryable: true, wantCode: "500", wantHits: 1},
		{name: "a long 503 wait goes back to the outbox", status: 503, header: map[string]string{"Retry-After": "60"}, wantRetryable: true, wantCode: "503", wantAfter: time.Minute, wantHits: 1},
		{name: "408 is a timeout, retryable", status: 408, wantRetryable: true, wantCode: "408", wantHits: 1},
		{name: "unknown integration", message: func(m *adapters.Outbound) { m.From = "nope" }, wantCode: "unknown_integration"},
		{name: "templates do not exist here", message: func(m *adapters.Outbound) { m.Template = &omnigate.Template{Name: "x"} }, wantCode: "unsupported_template"},
		{name: "nothing to send", message: func(m *adapters.Outbound) { m.Text = "" }, wantCode: "empty_message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			a := newAdapter(t, srv.URL, nil)
			m := textMessage
			if tt.message != nil {
				tt.message(&m)
			}
			_, err := a.Send(context.Background(), m)
			adaptertest.CheckClass(t, err, adaptertest.Class{Retryable: tt.wantRetryable, Code: tt.wantCode, RetryAfter: tt.wantAfter, CheckRetryAfter: true})
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("integration saw %d posts, want %d", got, tt.wantHits)
			}
		})
	}
}

func TestSendRetriesInlineOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(status)
					return
				}
				io.WriteString(w, `{"id":"widget-2"}`)
			}))
			defer srv.Close()
			rc, err := newAdapter(t, srv.URL, nil).Send(context.Background(), textMessage)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if rc.ProviderMessageID != "widget-2" || hits.Load() != 2 {
				t.Errorf("provider id %q after %d posts, want widget-2 after 2", rc.ProviderMessageID, hits.Load())
			}
		})
	}
}

func TestSendRetriesDialErrors(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: every dial is refused, so no post ever reached anyone.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var dials atomic.Int32
	d := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}}
	_, err = newAdapter(t, "http://"+addr, hc).Send(context.Background(), textMessage)
	var re *adapters.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryableError", err)
	}
	if got := dials.Load(); got != 3 {
		t.Errorf("dialled %d times, want 3 (one try and two retries)", got)
	}
}

func TestSendDoesNotRetryAPostThatMayHaveArrived(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	hc := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := newAdapter(t, srv.URL, hc).Send(context.Background(), textMessage)
	var re *adapters.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryableError", err)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("integration saw %d posts, want 1", got)
	}
}

func TestSendCancelledIsAContextError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newAdapter(t, "http://127.0.0.1:1", nil).Send(ctx, textMessage)
	var pe *adapters.PermanentError
	if !errors.Is(err, context.Canceled) || errors.As(err, &pe) {
		t.Fatalf("err = %v, want a non-permanent context.Canceled", err)
	}
}

func TestTyping(t *testing.T) {
	t.Parallel()
	f, srv := startIntegration(t, nil)
	a := newAdapter(t, srv.URL, nil)

	if err := a.Typing(context.Background(), omnigate.Open, integrationID, "contact-42", true); err != nil {
		t.Fatalf("Typing: %v", err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(<-f.bodies, &got); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(`{"type":"Event","events":[{"eventType":"Typing","typing":{"type":"On"}}],
		"channel":{"platform":"Open","type":"Private","to":{"id":"contact-42"},"from":{"id":"web-widget"},
		"time":"2026-03-26T20:06:58.803Z"},"direction":"Outbound"}`), &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	if err := a.Typing(context.Background(), omnigate.Open, integrationID, "contact-42", false); err != nil {
		t.Fatalf("Typing off: %v", err)
	}
	select {
	case b := <-f.bodies:
		t.Errorf("typing off posted %s; open messaging has no such event", b)
	default:
	}

	var pe *adapters.PermanentError
	if err := a.Typing(context.Background(), omnigate.Open, "nope", "contact-42", true); !errors.As(err, &pe) || pe.Code != "unknown_integration" {
		t.Errorf("unknown integration: err = %v", err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := open.New(open.Config{Integrations: map[string]open.Integration{
		"a": {OutboundURL: "ftp://x", Secret: "s"},
		"b": {OutboundURL: "https://x.example/hook"},
	}})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"integrations.a.outbound_url", "integrations.b.secret"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
