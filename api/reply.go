package api

import (
	"net/http"
	"net/url"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/egress"
	"github.com/omnigate/omnigate/messaging"
)

// replyBody is POST /v1/conversations/{id}/messages: the content of a send, without a
// queue, channel or recipient (the conversation names them).
type replyBody struct {
	Text     string             `json:"text"`
	Template *omnigate.Template `json:"template"`
	Media    []omnigate.Media   `json:"media"`
	Sender   omnigate.Sender    `json:"sender"`
	Takeover bool               `json:"takeover"`
}

// contentProblems checks a message's content: exactly one of text (with or without
// media), media, or a template; media URLs that a carrier can fetch; a known sender.
func (s *Server) contentProblems(text string, tpl *omnigate.Template, media []omnigate.Media, sender omnigate.Sender) []fieldProblem {
	var problems []fieldProblem
	bad := func(field, problem string) { problems = append(problems, fieldProblem{field, problem}) }
	switch {
	case tpl != nil && (text != "" || len(media) > 0):
		bad("template", "a template is sent on its own, without text or media")
	case tpl == nil && text == "" && len(media) == 0:
		bad("text", "one of text, template or media is required")
	}
	if tpl != nil && (tpl.Name == "" || tpl.Language == "") {
		bad("template", "name and language are required")
	}
	for i, m := range media {
		switch u, err := url.Parse(m.URL); {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("media["+itoa(i)+"].url", "must be an absolute http(s) URL")
		case !s.cfg.AllowPrivateMedia && egress.CheckURL(m.URL) != nil:
			bad("media["+itoa(i)+"].url", "must not point at a loopback, private or link-local address")
		}
	}
	if sender != "" && sender != omnigate.Human && sender != omnigate.Automated {
		bad("sender", "must be human or automated")
	}
	return problems
}

// reply sends inside a conversation, from its address, whoever's queue it is in now.
func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		writeError(w, http.StatusBadRequest, "invalid_request", "Idempotency-Key is limited to 255 characters",
			map[string]any{"fields": []fieldProblem{{"Idempotency-Key", "longer than 255 characters"}}})
		return
	}
	var b replyBody
	raw, ok := readBody(w, r, &b)
	if !ok {
		return
	}
	if problems := s.contentProblems(b.Text, b.Template, b.Media, b.Sender); len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request has invalid fields", map[string]any{"fields": problems})
		return
	}
	p := principalOf(r)
	req, err := s.cfg.Service.ReplySend(r.Context(), messaging.Reply{Principal: p, ConversationID: r.PathValue("id"),
		Text: b.Text, Template: b.Template, Media: b.Media, Sender: b.Sender, Takeover: b.Takeover})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if key == "" {
		results, err := s.cfg.Service.Send(r.Context(), req)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		code, body := response(req, false, results)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(body)
		return
	}
	// The key is the principal's, shared with POST /v1/messages: the conversation is
	// part of what the key's first request was, so the same body for another
	// conversation is a different request.
	s.sendIdempotent(w, r, p, key, append([]byte(r.URL.Path+"\n"), raw...), req, false)
}
