package api

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

func limitParam(r *http.Request, def, most int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, most)
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	prefix := strings.ToLower(r.URL.Query().Get("q"))
	ch := omnigate.Channel(r.URL.Query().Get("channel"))
	if ch != "" && !ch.Valid() {
		writeError(w, http.StatusBadRequest, "invalid_request", "unknown channel", map[string]any{"fields": []fieldProblem{{"channel", "unknown channel"}}})
		return
	}
	after := r.URL.Query().Get("after")
	limit := limitParam(r, 20, 100)
	var qs []omnigate.Queue
	for _, q := range s.cfg.Directory().Queues {
		if !p.MemberOf(q.ID) || (ch != "" && q.Address(ch) == "") {
			continue
		}
		if prefix != "" && !strings.HasPrefix(strings.ToLower(q.Name), prefix) && !strings.HasPrefix(strings.ToLower(q.ID), prefix) {
			continue
		}
		qs = append(qs, q)
	}
	// Stable order: by name, then id; the cursor is the last id returned.
	sort.Slice(qs, func(i, j int) bool {
		if !strings.EqualFold(qs[i].Name, qs[j].Name) {
			return strings.ToLower(qs[i].Name) < strings.ToLower(qs[j].Name)
		}
		return qs[i].ID < qs[j].ID
	})
	if after != "" {
		for i, q := range qs {
			if q.ID == after {
				qs = qs[i+1:]
				break
			}
		}
	}
	out := []map[string]any{}
	for _, q := range qs {
		if len(out) == limit {
			break
		}
		addrs := map[string]string{}
		for c, a := range q.Addresses {
			addrs[string(c)] = a
		}
		out = append(out, map[string]any{"id": q.ID, "name": q.Name, "addresses": addrs})
	}
	body := map[string]any{"queues": out}
	if len(qs) > limit {
		body["next"] = out[len(out)-1]["id"]
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) queueStats(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	id := r.PathValue("id")
	if _, ok := s.cfg.Directory().Queues[id]; !ok || !p.MemberOf(id) {
		writeError(w, http.StatusNotFound, "queue_not_found", "no queue "+id, nil)
		return
	}
	window := 24 * time.Hour
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", "window must be a duration such as 1h or 24h",
				map[string]any{"fields": []fieldProblem{{"window", "not a duration"}}})
			return
		}
		window = d
	}
	stats, err := s.cfg.Store.QueueStats(r.Context(), id, s.cfg.Now().Add(-window))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": id, "window": window.String(), "channels": stats})
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if !p.Can(omnigate.PermSend) && !p.Can(omnigate.PermQueues) {
		writeError(w, http.StatusForbidden, "forbidden", "this key lacks the "+omnigate.PermSend+" permission", nil)
		return
	}
	ch := omnigate.Channel(r.URL.Query().Get("channel"))
	if ch != "" && !ch.Valid() {
		writeError(w, http.StatusBadRequest, "invalid_request", "unknown channel", map[string]any{"fields": []fieldProblem{{"channel", "unknown channel"}}})
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if n, ok := omnigate.NormalizeAddress(ch, q, s.countryParam(r)); ch.UsesPhoneNumbers() && ok {
		// A whole number typed as the compose box takes it, "(415) 555-0100" included,
		// is stored in E.164 with its country code.
		q = n
	} else if ch.UsesPhoneNumbers() && strings.HasPrefix(q, "(") || strings.HasPrefix(q, "+") {
		// A typed number may be partial; match its digits as they are stored.
		q = "+" + strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, q)
	}
	limit := limitParam(r, 20, 100)
	// An agent finds only the contacts of conversations in its queues; a key with "*"
	// finds every contact.
	var queues []string
	if !slices.Contains(p.Queues, "*") {
		queues = append([]string{}, p.Queues...)
	}
	cs, err := s.cfg.Store.Contacts(r.Context(), ch, q, r.URL.Query().Get("after"), queues, limit+1)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for i, c := range cs {
		if i == limit {
			break
		}
		name := c.Name
		if name == "" {
			name = c.Address
		}
		out = append(out, map[string]any{"channel": c.Channel, "address": c.Address, "name": name})
	}
	body := map[string]any{"contacts": out}
	if len(cs) > limit {
		last := cs[limit-1]
		body["next"] = string(last.Channel) + "|" + last.Address
	}
	writeJSON(w, http.StatusOK, body)
}

// conversationJSON is a conversation as the API shows it.
func (s *Server) conversationJSON(c omnigate.Conversation) map[string]any {
	name := c.ContactName
	if name == "" {
		name = c.ContactAddress
	}
	out := map[string]any{"id": c.ID, "channel": c.Channel, "queue": c.QueueID, "address": c.Address,
		"contact": map[string]string{"address": c.ContactAddress, "name": name},
		"state":   s.cfg.Service.EffectiveState(c, s.cfg.Now()), "assigned_to": c.AssignedTo,
		"opened_at": c.OpenedAt, "last_activity_at": c.LastActivityAt, "replies_since_inbound": c.RepliesSinceInbound}
	if !c.LastInboundAt.IsZero() {
		out["last_inbound_at"] = c.LastInboundAt
	} else {
		out["last_inbound_at"] = nil
	}
	if c.WrapupCode != "" {
		out["wrapup"] = map[string]string{"code": c.WrapupCode, "notes": c.WrapupNotes}
	}
	return out
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	ch := omnigate.Channel(r.URL.Query().Get("channel"))
	var problems []fieldProblem
	if !ch.Valid() {
		problems = append(problems, fieldProblem{"channel", "required: one of sms, whatsapp, messenger, instagram, x, open"})
	}
	addr, ok := omnigate.NormalizeAddress(ch, r.URL.Query().Get("address"), s.countryParam(r))
	if !ok {
		problems = append(problems, fieldProblem{"address", "required: a valid address for the channel"})
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request has invalid fields", map[string]any{"fields": problems})
		return
	}
	cs, err := s.cfg.Store.Conversations(r.Context(), ch, addr, limitParam(r, 20, 100))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, c := range cs {
		if p.MemberOf(c.QueueID) || p.Can(omnigate.PermAdmin) {
			out = append(out, s.conversationJSON(c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
}

func (s *Server) countryParam(r *http.Request) string {
	if c := r.URL.Query().Get("country"); c != "" {
		return c
	}
	return s.cfg.Directory().DefaultCountry
}

// visibleConversation loads a conversation the caller may see, or answers 404.
func (s *Server) visibleConversation(w http.ResponseWriter, r *http.Request) (omnigate.Conversation, bool) {
	c, err := s.cfg.Store.Conversation(r.Context(), r.PathValue("id"))
	p := principalOf(r)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.MemberOf(c.QueueID) && !p.Can(omnigate.PermAdmin) && !p.Can(omnigate.PermAssign)) {
		writeError(w, http.StatusNotFound, "conversation_not_found", "no conversation with this id", nil)
		return c, false
	}
	if err != nil {
		s.writeErr(w, r, err)
		return c, false
	}
	return c, true
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visibleConversation(w, r)
	if !ok {
		return
	}
	ms, err := s.cfg.Store.ConversationMessages(r.Context(), c.ID)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := s.conversationJSON(c)
	msgs := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		msgs = append(msgs, messageJSON(m))
	}
	out["messages"] = msgs
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) assign(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Principal string `json:"principal"`
	}
	if _, ok := readBody(w, r, &b); !ok {
		return
	}
	if _, ok := s.visibleConversation(w, r); !ok {
		return
	}
	known := false
	for _, c := range s.cfg.Directory().Principals {
		known = known || c.Principal.ID == b.Principal
	}
	if !known {
		writeError(w, http.StatusBadRequest, "invalid_request", "no such principal",
			map[string]any{"fields": []fieldProblem{{"principal", "no such principal"}}})
		return
	}
	c, err := s.cfg.Service.Assign(r.Context(), r.PathValue("id"), b.Principal)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.conversationJSON(c))
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Queue string `json:"queue"`
	}
	if _, ok := readBody(w, r, &b); !ok {
		return
	}
	c, ok := s.visibleConversation(w, r)
	if !ok {
		return
	}
	p := principalOf(r)
	if !p.Can(omnigate.PermAssign) && !(c.State == omnigate.StateAssigned && c.AssignedTo == p.ID) {
		writeError(w, http.StatusForbidden, "forbidden", "only the assigned principal or a key with "+omnigate.PermAssign+" can transfer", nil)
		return
	}
	q, known := s.cfg.Directory().Queues[b.Queue]
	if !known {
		writeError(w, http.StatusNotFound, "queue_not_found", "no queue "+b.Queue, nil)
		return
	}
	c, err := s.cfg.Service.Transfer(r.Context(), c.ID, q)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.conversationJSON(c))
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.visibleConversation(w, r); !ok {
		return
	}
	c, canceled, err := s.cfg.Service.Disconnect(r.Context(), r.PathValue("id"), principalOf(r))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := s.conversationJSON(c)
	if canceled == nil {
		canceled = []string{}
	}
	out["canceled"] = canceled
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) wrapup(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Code  string `json:"code"`
		Notes string `json:"notes"`
	}
	if _, ok := readBody(w, r, &b); !ok {
		return
	}
	if strings.TrimSpace(b.Code) == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "a wrap-up code is required",
			map[string]any{"fields": []fieldProblem{{"code", "required"}}})
		return
	}
	if _, ok := s.visibleConversation(w, r); !ok {
		return
	}
	c, err := s.cfg.Service.Wrapup(r.Context(), r.PathValue("id"), principalOf(r), b.Code, b.Notes)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.conversationJSON(c))
}

func (s *Server) typing(w http.ResponseWriter, r *http.Request) {
	var b struct {
		On *bool `json:"on"`
	}
	if r.ContentLength != 0 {
		if _, ok := readBody(w, r, &b); !ok {
			return
		}
	}
	c, ok := s.visibleConversation(w, r)
	if !ok {
		return
	}
	p := principalOf(r)
	if c.State != omnigate.StateAssigned || c.AssignedTo != p.ID {
		writeError(w, http.StatusConflict, "not_assigned", "only the assigned principal can show typing", nil)
		return
	}
	a, ok := s.cfg.Registry.For(c.Channel)
	t, canType := a.(adapters.Typer)
	if !ok || !canType {
		writeError(w, http.StatusUnprocessableEntity, "typing_unsupported", string(c.Channel)+" has no typing indicator", nil)
		return
	}
	on := b.On == nil || *b.On
	// Typing is ephemeral: sent at once, best effort, never queued behind messages.
	if err := t.Typing(r.Context(), c.Channel, c.Address, c.ContactAddress, on); err != nil {
		var pe *adapters.PermanentError
		if errors.As(err, &pe) {
			writeError(w, http.StatusUnprocessableEntity, "typing_unsupported", pe.Message, map[string]any{"carrier_code": pe.Code})
			return
		}
		writeError(w, http.StatusBadGateway, "carrier_unavailable", "the carrier did not accept the typing indicator", nil)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"typing": on})
}

func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = store.OutboxDead
	}
	if status != store.OutboxDead && status != store.OutboxPending {
		writeError(w, http.StatusBadRequest, "invalid_request", "status must be dead or pending",
			map[string]any{"fields": []fieldProblem{{"status", "must be dead or pending"}}})
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	limit := limitParam(r, 50, 500)
	rows, err := s.cfg.Store.Outbox(r.Context(), status, after, limit+1)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	body := map[string]any{}
	if len(rows) > limit {
		rows = rows[:limit]
		body["next"] = strconv.FormatInt(rows[limit-1].ID, 10)
	}
	body["entries"] = rows
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) retryOutbox(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "entry_not_found", "no dead letter with this id", nil)
		return
	}
	if err := s.cfg.Store.RetryDead(r.Context(), id, s.cfg.Now().UTC()); errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "entry_not_found", "no dead letter with this id", nil)
		return
	} else if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": store.OutboxPending})
}
