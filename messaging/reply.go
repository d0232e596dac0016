package messaging

import (
	"context"
	"errors"
	"net/http"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// Reply is a message sent inside an existing conversation
// (POST /v1/conversations/{id}/messages).
type Reply struct {
	Principal      omnigate.Principal
	ConversationID string
	Text           string
	Template       *omnigate.Template
	Media          []omnigate.Media
	Sender         omnigate.Sender
	Takeover       bool
}

// ReplySend turns a reply into the send it is: from the conversation's own address (the
// number or account the contact wrote to), on behalf of the queue the conversation is in
// now, to its contact, pinned to the conversation. The caller must be a member of that
// queue; a caller who cannot see the conversation at all is told it does not exist.
// Send then applies the same conflict, takeover and policy rules as any other send, and
// refuses with conversation_closed when the conversation is no longer live.
func (s *Service) ReplySend(ctx context.Context, r Reply) (Send, error) {
	c, err := s.cfg.Store.Conversation(ctx, r.ConversationID)
	p := r.Principal
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Send{}, refuse(http.StatusNotFound, "conversation_not_found", "no conversation with this id", nil)
	case err != nil:
		return Send{}, err
	case !p.MemberOf(c.QueueID):
		if p.Can(omnigate.PermAdmin) || p.Can(omnigate.PermAssign) {
			return Send{}, refuse(http.StatusForbidden, "not_queue_member",
				"only members of the conversation's current queue can reply in it", map[string]any{"queue": c.QueueID})
		}
		return Send{}, refuse(http.StatusNotFound, "conversation_not_found", "no conversation with this id", nil)
	}
	q, ok := s.cfg.Queues()[c.QueueID]
	if !ok {
		return Send{}, refuse(http.StatusConflict, "queue_not_found",
			"the conversation's queue is no longer configured", map[string]any{"queue": c.QueueID})
	}
	return Send{Principal: p, Queue: q, Channel: c.Channel, To: []string{c.ContactAddress}, Text: r.Text,
		Template: r.Template, Media: r.Media, Sender: r.Sender, Takeover: r.Takeover,
		Conversation: c.ID, Address: c.Address}, nil
}
