// Package adaptertest is the conformance suite every carrier adapter runs: each adapter
// describes how its carrier answers (in the carrier's own wire format) and how a signed
// webhook looks, and Run checks the behaviour the relay and the webhook pipeline rely on.
package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/omnigate/omnigate/adapters"
)

// Harness describes one adapter to the suite.
type Harness struct {
	// New builds the adapter with every carrier base URL pointed at baseURL.
	New func(t *testing.T, baseURL string) adapters.Adapter
	// Message is a valid outbound message for this adapter.
	Message adapters.Outbound

	// Accept answers a send as the carrier does on success.
	Accept http.HandlerFunc
	// WantProviderID is the provider message id Accept's answer carries.
	WantProviderID string
	// Throttle answers as the carrier does when rate limiting, asking the caller to wait
	// WantRetryAfter (zero if the carrier gives no hint).
	Throttle       http.HandlerFunc
	WantRetryAfter time.Duration
	// Reject answers with a documented permanent error whose carrier code is WantCode.
	Reject   http.HandlerFunc
	WantCode string

	// Webhook returns a correctly signed inbound webhook request (method, target path and
	// query, headers) and its body, as the carrier would post it.
	Webhook func(t *testing.T) (*http.Request, []byte)
	// WantEvents is how many events the signed webhook carries.
	WantEvents int
}

// Run checks the adapter against the contract shared by all carriers.
func Run(t *testing.T, h Harness) {
	t.Helper()
	send := func(t *testing.T, handler http.HandlerFunc) (adapters.Receipt, error) {
		t.Helper()
		srv := httptest.NewServer(handler)
		defer srv.Close()
		a := h.New(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return a.Send(ctx, h.Message)
	}

	t.Run("2xx gives a receipt", func(t *testing.T) {
		rc, err := send(t, h.Accept)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if rc.ProviderMessageID != h.WantProviderID {
			t.Errorf("provider id = %q, want %q", rc.ProviderMessageID, h.WantProviderID)
		}
	})

	t.Run("throttling is retryable with Retry-After", func(t *testing.T) {
		_, err := send(t, h.Throttle)
		var re *adapters.RetryableError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want *RetryableError", err)
		}
		if re.RetryAfter != h.WantRetryAfter {
			t.Errorf("RetryAfter = %v, want %v", re.RetryAfter, h.WantRetryAfter)
		}
	})

	t.Run("5xx is retryable", func(t *testing.T) {
		_, err := send(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream exploded", http.StatusInternalServerError)
		})
		var re *adapters.RetryableError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want *RetryableError", err)
		}
	})

	t.Run("4xx is permanent with the carrier code", func(t *testing.T) {
		_, err := send(t, h.Reject)
		var pe *adapters.PermanentError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want *PermanentError", err)
		}
		if pe.Code != h.WantCode {
			t.Errorf("code = %q, want %q", pe.Code, h.WantCode)
		}
	})

	t.Run("a cancelled context stops", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		a := h.New(t, srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		_, err := a.Send(ctx, h.Message)
		if err == nil {
			t.Fatal("Send succeeded after its context was cancelled")
		}
		var pe *adapters.PermanentError
		if errors.As(err, &pe) {
			t.Fatalf("a cancelled send must not be permanent: %v", err)
		}
	})

	if h.Webhook == nil {
		return
	}
	t.Run("a signed webhook parses", func(t *testing.T) {
		a := h.New(t, "http://127.0.0.1:1")
		r, body := h.Webhook(t)
		evs, err := a.ParseWebhook(r, body)
		if err != nil {
			t.Fatalf("ParseWebhook: %v", err)
		}
		if len(evs) != h.WantEvents {
			t.Errorf("got %d events, want %d", len(evs), h.WantEvents)
		}
	})

	t.Run("a tampered body is a bad signature", func(t *testing.T) {
		a := h.New(t, "http://127.0.0.1:1")
		r, body := h.Webhook(t)
		tampered := append(bytes.Clone(body[:len(body)-1]), body[len(body)-1]^1)
		r.Body = io.NopCloser(bytes.NewReader(tampered))
		if _, err := a.ParseWebhook(r, tampered); !errors.Is(err, adapters.ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})

	t.Run("a missing signature is a bad signature", func(t *testing.T) {
		a := h.New(t, "http://127.0.0.1:1")
		r, body := h.Webhook(t)
		for _, name := range []string{"X-Twilio-Signature", "X-Hub-Signature-256", "X-Twitter-Webhooks-Signature"} {
			r.Header.Del(name)
		}
		if _, err := a.ParseWebhook(r, body); !errors.Is(err, adapters.ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})
}

// Class is the kind of send error a carrier answer must produce.
type Class struct {
	Retryable bool
	Code      string // the carrier's code on the error
	// RetryAfter is checked on retryable errors when CheckRetryAfter is set.
	RetryAfter      time.Duration
	CheckRetryAfter bool
}

// CheckClass fails t unless err is a *RetryableError or *PermanentError as want says,
// with the expected carrier code (and wait, when asked).
func CheckClass(t testing.TB, err error, want Class) {
	t.Helper()
	var re *adapters.RetryableError
	var pe *adapters.PermanentError
	switch {
	case want.Retryable && errors.As(err, &re):
		if re.Code != want.Code || (want.CheckRetryAfter && re.RetryAfter != want.RetryAfter) {
			t.Errorf("retryable code %q after %v, want %q after %v", re.Code, re.RetryAfter, want.Code, want.RetryAfter)
		}
	case !want.Retryable && errors.As(err, &pe):
		if pe.Code != want.Code {
			t.Errorf("permanent code %q, want %q", pe.Code, want.Code)
		}
	default:
		t.Errorf("err = %v (%T), want retryable=%v", err, err, want.Retryable)
	}
}

// CheckEvents fails t for a parsed webhook event the pipeline could not store: an
// unknown kind or channel, a status event without a status, or text that is not valid
// UTF-8 (PostgreSQL would refuse it, and the carrier would retry forever). Fuzz targets
// call it on whatever a parser accepted.
func CheckEvents(t testing.TB, evs []adapters.Event) {
	t.Helper()
	for i, ev := range evs {
		switch ev.Kind {
		case adapters.EventMessage, adapters.EventEcho, adapters.EventStatus, adapters.EventUnsend, adapters.EventTyping:
		default:
			t.Errorf("event %d: unknown kind %q", i, ev.Kind)
		}
		if !ev.Channel.Valid() {
			t.Errorf("event %d: unknown channel %q", i, ev.Channel)
		}
		if ev.Kind == adapters.EventStatus && ev.Status == "" {
			t.Errorf("event %d: a status event without a status", i)
		}
		for name, s := range map[string]string{"provider message id": ev.ProviderMessageID, "message id": ev.MessageID,
			"address": ev.Address, "contact address": ev.ContactAddress, "contact name": ev.ContactName, "text": ev.Text,
			"error code": ev.ErrorCode, "error message": ev.ErrorMessage} {
			if !utf8.ValidString(s) {
				t.Errorf("event %d: %s is not valid UTF-8: %q", i, name, s)
			}
		}
		for _, m := range ev.Media {
			if !utf8.ValidString(m.URL) || !utf8.ValidString(m.ContentType) {
				t.Errorf("event %d: media is not valid UTF-8: %+v", i, m)
			}
		}
	}
}
