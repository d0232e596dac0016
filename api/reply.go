package api

import (
	"net/http"

	"github.com/omnigate/omnigate"
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

// reply sends inside a conversation, from its address, whoever's queue it is in now.
// The Idempotency-Key is the principal's, shared with POST /v1/messages: the
// conversation is part of what the key's first request was, so the same body for
// another conversation is a different request.
func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > messaging.MaxIdempotencyKey {
		s.writeErr(w, r, idempotencyKeyTooLong())
		return
	}
	var b replyBody
	raw, ok := readBody(w, r, &b)
	if !ok {
		return
	}
	req := messaging.SendRequest{Principal: principalOf(r), Conversation: r.PathValue("id"),
		Text: b.Text, Template: b.Template, Media: b.Media, Sender: b.Sender, Takeover: b.Takeover}
	s.answerSend(w, r, req, key, append([]byte(r.URL.Path+"\n"), raw...))
}
