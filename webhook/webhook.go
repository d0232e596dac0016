// Package webhook is omnigate's carrier-facing HTTP: cap the body, verify and parse it
// through the carrier's adapter, commit what it carries, and only then acknowledge. A
// carrier that gets no success retries, and a repeated message is stored once, so a
// delivery is never lost and never doubled.
package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/messaging"
)

// MaxBody is the largest webhook body accepted (1 MiB).
const MaxBody = 1 << 20

// Ingester commits a webhook's events; messaging.Service is the one omnigate uses.
type Ingester interface {
	Ingest(ctx context.Context, provider string, evs []adapters.Event) (messaging.IngestStats, error)
}

// Results counted per webhook request.
const (
	ResultOK           = "ok"
	ResultDuplicate    = "duplicate"
	ResultBadSignature = "bad_signature"
	ResultMalformed    = "malformed"
	ResultTooLarge     = "too_large"
	ResultError        = "error"
)

// Handler serves one carrier's webhook paths.
type Handler struct {
	Adapter adapters.Adapter
	// Current, when set, is asked for the carrier's adapter on each request instead of
	// Adapter, so a reload that rotated the carrier's secrets takes effect at once. A
	// false answer (the carrier is no longer configured) is a 404.
	Current  func() (adapters.Adapter, bool)
	Ingester Ingester
	Log      *slog.Logger
	// Observe, when set, is told each request's result.
	Observe func(carrier, result string)
}

func (h *Handler) observe(a adapters.Adapter, result string) {
	if h.Observe != nil {
		h.Observe(a.Provider(), result)
	}
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"error":{"code":"`+code+`","message":"`+msg+`"}}`)
}

// ServeHTTP implements http.Handler: GET is the carrier's verification handshake where
// it has one; POST is a delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.Adapter
	if h.Current != nil {
		var ok bool
		if a, ok = h.Current(); !ok {
			fail(w, http.StatusNotFound, "not_found", "no such carrier")
			return
		}
	}
	if r.Method == http.MethodGet {
		if c, ok := a.(adapters.Challenger); ok {
			c.Challenge(w, r)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.observe(a, ResultTooLarge)
			fail(w, http.StatusRequestEntityTooLarge, "body_too_large", "webhook bodies are limited to 1 MiB")
			return
		}
		h.observe(a, ResultMalformed)
		fail(w, http.StatusBadRequest, "malformed", "could not read the body")
		return
	}
	evs, err := a.ParseWebhook(r, body)
	switch {
	case errors.Is(err, adapters.ErrBadSignature):
		h.observe(a, ResultBadSignature)
		h.Log.Warn("webhook: bad signature", "carrier", a.Provider(), "path", r.URL.Path, "remote", r.RemoteAddr)
		fail(w, http.StatusUnauthorized, "bad_signature", "signature missing or invalid")
		return
	case err != nil:
		h.observe(a, ResultMalformed)
		h.Log.Warn("webhook: malformed payload", "carrier", a.Provider(), "path", r.URL.Path, "err", err)
		fail(w, http.StatusBadRequest, "malformed", "the payload is not a valid "+a.Provider()+" webhook")
		return
	}
	st, err := h.Ingester.Ingest(r.Context(), a.Provider(), evs)
	if err != nil {
		h.observe(a, ResultError)
		h.Log.Error("webhook: could not commit; the carrier will retry", "carrier", a.Provider(), "err", err)
		fail(w, http.StatusServiceUnavailable, "unavailable", "not stored; retry later")
		return
	}
	if st.Duplicates > 0 && st.Stored == 0 {
		h.observe(a, ResultDuplicate)
	} else {
		h.observe(a, ResultOK)
	}
	if ack, ok := a.(adapters.Acknowledger); ok {
		ack.Acknowledge(w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
}
