package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/omnigate/omnigate/messaging"
)

// media streams an inbound attachment from its carrier. Nothing is cached, here or by
// the caller's proxies: the bytes are the carrier's, and a story mention's must not be
// kept at all.
func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Service.Media(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	defer m.Body.Close()
	h := w.Header()
	h.Set("Content-Type", m.ContentType)
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	if m.Length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(m.Length, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, m.Body); err != nil {
		if errors.Is(err, messaging.ErrMediaTooLarge) {
			s.cfg.Log.Warn("media: stream cut at the size cap", "media_id", r.PathValue("id"))
		}
		// The status is sent: cut the connection so the caller sees a truncated body,
		// never a short one that looks whole.
		panic(http.ErrAbortHandler)
	}
}
