package api

import (
	"net/http"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
)

// listTemplates is GET /v1/templates?queue=Q&channel=whatsapp: the approved templates
// the queue's number can send, as last synced from the carrier.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	q := r.URL.Query()
	queue := q.Get("queue")
	if queue == "" {
		queue = p.DefaultQueue
	}
	ch := omnigate.Channel(q.Get("channel"))
	if ch == "" {
		ch = omnigate.WhatsApp
	}
	var problems []messaging.FieldProblem
	if queue == "" {
		problems = append(problems, messaging.FieldProblem{Field: "queue", Problem: "required (this principal has no default queue)"})
	}
	if !ch.Valid() {
		problems = append(problems, messaging.FieldProblem{Field: "channel", Problem: "must be one of sms, whatsapp, messenger, instagram, x, open"})
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request has invalid fields", map[string]any{"fields": problems})
		return
	}
	list, err := s.cfg.Service.Templates(r.Context(), p, queue, ch)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// syncTemplates is POST /v1/templates/sync: read every number's catalogue from its
// carrier now.
func (s *Server) syncTemplates(w http.ResponseWriter, r *http.Request) {
	res, err := s.cfg.Service.SyncTemplates(r.Context(), principalOf(r))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

// eraseContact is DELETE /v1/contacts/{channel}/{address}.
func (s *Server) eraseContact(w http.ResponseWriter, r *http.Request) {
	ch := omnigate.Channel(r.PathValue("channel"))
	if !ch.Valid() {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request has invalid fields",
			map[string]any{"fields": []messaging.FieldProblem{{Field: "channel", Problem: "must be one of sms, whatsapp, messenger, instagram, x, open"}}})
		return
	}
	addr, ok := omnigate.NormalizeAddress(ch, r.PathValue("address"), s.cfg.Directory().DefaultCountry)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_address", "not a valid "+string(ch)+" address", nil)
		return
	}
	res, err := s.cfg.Service.EraseContact(r.Context(), principalOf(r), ch, addr)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
