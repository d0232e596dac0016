package messaging

import (
	"context"
	"errors"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// prepare validates req; a reply by conversation id (req.Conversation) is first turned
// into the send it is: from the conversation's own address (the number or account the
// contact wrote to), on behalf of the queue the conversation is in now, to its
// contact, pinned to the conversation. The caller must be a member of that queue; a
// caller who cannot see the conversation at all is told it does not exist. The send
// then meets the same conflict, takeover and policy rules as any other, and is refused
// with conversation_closed when the conversation is no longer live.
func (s *Service) prepare(ctx context.Context, req SendRequest) (send, error) {
	if req.Conversation == "" {
		return s.validate(req)
	}
	c, err := s.cfg.Store.Conversation(ctx, req.Conversation)
	p := req.Principal
	switch {
	case errors.Is(err, store.ErrNotFound):
		return send{}, refuse(KindNotFound, "conversation_not_found", "no conversation with this id", nil)
	case err != nil:
		return send{}, err
	case !p.MemberOf(c.QueueID):
		if p.Can(omnigate.PermAdmin) || p.Can(omnigate.PermAssign) {
			return send{}, refuse(KindForbidden, "not_queue_member",
				"only members of the conversation's current queue can reply in it", map[string]any{"queue": c.QueueID})
		}
		return send{}, refuse(KindNotFound, "conversation_not_found", "no conversation with this id", nil)
	}
	if _, ok := s.cfg.Queues()[c.QueueID]; !ok {
		return send{}, refuse(KindConflict, "queue_not_found",
			"the conversation's queue is no longer configured", map[string]any{"queue": c.QueueID})
	}
	req.Queue, req.Channel, req.To, req.Country = c.QueueID, c.Channel, Recipients{Addresses: []string{c.ContactAddress}}, ""
	req.address = c.Address
	v, err := s.validate(req)
	v.conversation = c.ID
	return v, err
}
