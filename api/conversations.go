package api

import (
	"net/http"
	"strconv"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
)

func limitParam(r *http.Request, def, most int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, most)
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := s.cfg.Service.Queues(r.Context(), principalOf(r), messaging.QueueQuery{Prefix: q.Get("q"),
		Channel: omnigate.Channel(q.Get("channel")), After: q.Get("after"), Limit: limitParam(r, 20, 100)})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, q := range page.Queues {
		addrs := map[string]string{}
		for c, a := range q.Addresses {
			addrs[string(c)] = a
		}
		out = append(out, map[string]any{"id": q.ID, "name": q.Name, "addresses": addrs})
	}
	body := map[string]any{"queues": out}
	if page.Next != "" {
		body["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) queueStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	stats, window, err := s.cfg.Service.QueueStats(r.Context(), principalOf(r), id, r.URL.Query().Get("window"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": id, "window": window.String(), "channels": stats})
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := s.cfg.Service.Contacts(r.Context(), principalOf(r), messaging.ContactQuery{Channel: omnigate.Channel(q.Get("channel")),
		Prefix: q.Get("q"), Country: q.Get("country"), After: q.Get("after"), Limit: limitParam(r, 20, 100)})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, c := range page.Contacts {
		name := c.Name
		if name == "" {
			name = c.Address
		}
		out = append(out, map[string]any{"channel": c.Channel, "address": c.Address, "name": name})
	}
	body := map[string]any{"contacts": out}
	if page.Next != "" {
		body["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, body)
}

// conversationJSON is a conversation as the API shows it (messaging gives its
// effective state).
func conversationJSON(c omnigate.Conversation) map[string]any {
	name := c.ContactName
	if name == "" {
		name = c.ContactAddress
	}
	out := map[string]any{"id": c.ID, "channel": c.Channel, "queue": c.QueueID, "address": c.Address,
		"contact": map[string]string{"address": c.ContactAddress, "name": name},
		"state":   c.State, "assigned_to": c.AssignedTo,
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
	q := r.URL.Query()
	cs, err := s.cfg.Service.Conversations(r.Context(), principalOf(r), messaging.ConversationQuery{Channel: omnigate.Channel(q.Get("channel")),
		Address: q.Get("address"), Country: q.Get("country"), Limit: limitParam(r, 20, 100)})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, c := range cs {
		out = append(out, conversationJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	c, ms, err := s.cfg.Service.Conversation(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := conversationJSON(c)
	msgs := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		msgs = append(msgs, messageJSON(m))
	}
	out["messages"] = msgs
	writeJSON(w, http.StatusOK, out)
}

// answerConversation answers a transition: the conversation as it is now, or the refusal.
func (s *Server) answerConversation(w http.ResponseWriter, r *http.Request, c omnigate.Conversation, err error) {
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, conversationJSON(c))
}

func (s *Server) assign(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Principal string `json:"principal"`
	}
	if _, ok := readBody(w, r, &b); !ok {
		return
	}
	c, err := s.cfg.Service.Assign(r.Context(), principalOf(r), r.PathValue("id"), b.Principal)
	s.answerConversation(w, r, c, err)
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Queue string `json:"queue"`
	}
	if _, ok := readBody(w, r, &b); !ok {
		return
	}
	c, err := s.cfg.Service.Transfer(r.Context(), principalOf(r), r.PathValue("id"), b.Queue)
	s.answerConversation(w, r, c, err)
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	c, canceled, err := s.cfg.Service.Disconnect(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := conversationJSON(c)
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
	c, err := s.cfg.Service.Wrapup(r.Context(), principalOf(r), r.PathValue("id"), b.Code, b.Notes)
	s.answerConversation(w, r, c, err)
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
	on := b.On == nil || *b.On
	if err := s.cfg.Service.Typing(r.Context(), principalOf(r), r.PathValue("id"), on); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"typing": on})
}

func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request) {
	page, err := s.cfg.Service.Outbox(r.Context(), principalOf(r), r.URL.Query().Get("status"), r.URL.Query().Get("after"), limitParam(r, 50, 500))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	body := map[string]any{"entries": page.Rows}
	if page.Next != "" {
		body["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) retryOutbox(w http.ResponseWriter, r *http.Request) {
	id, err := s.cfg.Service.Replay(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": messaging.OutboxPending})
}
