package messaging

import (
	"context"
	"errors"
	"strings"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/store"
)

// transition loads conversation id, lets change edit it (or refuse), and writes it with
// its platform event, all in one transaction.
func (s *Service) transition(ctx context.Context, id, eventChange string, change func(tx store.Tx, c *omnigate.Conversation) error) (omnigate.Conversation, error) {
	var out omnigate.Conversation
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		now := s.cfg.Now().UTC()
		c, err := tx.Conversation(id)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(KindNotFound, "conversation_not_found", "no conversation with this id", nil)
		}
		if err != nil {
			return err
		}
		if err := tx.LockKey(store.ConversationKey{Channel: c.Channel, Address: c.Address, ContactAddress: c.ContactAddress}); err != nil {
			return err
		}
		if c, err = tx.Conversation(id); err != nil { // re-read under the lock
			return err
		}
		if s.EffectiveState(c, now) == omnigate.StateClosed {
			return refuse(KindConflict, "conversation_closed", "the conversation's threading timeline has expired", nil)
		}
		if err := change(tx, &c); err != nil {
			return err
		}
		c.LastActivityAt = now
		if err := tx.UpdateConversation(c); err != nil {
			return err
		}
		out = c
		return s.event(tx, events.TypeConversationUpdated, c.ID, events.Conversation(c, eventChange), now)
	})
	if err != nil {
		return out, err
	}
	return s.view(out), nil
}

// Assign gives the conversation to principalID (the platform's routing decision). p
// must hold the assign permission and see the conversation; principalID must be a
// configured principal.
func (s *Service) Assign(ctx context.Context, p omnigate.Principal, id, principalID string) (omnigate.Conversation, error) {
	if !p.Can(omnigate.PermAssign) {
		return omnigate.Conversation{}, forbidden(omnigate.PermAssign)
	}
	if _, err := s.visible(ctx, p, id); err != nil {
		return omnigate.Conversation{}, err
	}
	known := false
	if s.cfg.Principals != nil {
		for _, x := range s.cfg.Principals() {
			known = known || x.ID == principalID
		}
	}
	if !known {
		return omnigate.Conversation{}, invalid("invalid_request", "no such principal", FieldProblem{"principal", "no such principal"})
	}
	return s.transition(ctx, id, "assigned", func(_ store.Tx, c *omnigate.Conversation) error {
		c.State, c.AssignedTo = omnigate.StateAssigned, principalID
		return nil
	})
}

// Transfer is a blind transfer to queue queueID: unassigned and queued there. The
// thread keeps its address (it is between that address and the contact), so replies in
// it still come from the number or account the contact knows. p must be the assigned
// principal or hold the assign permission.
func (s *Service) Transfer(ctx context.Context, p omnigate.Principal, id, queueID string) (omnigate.Conversation, error) {
	c, err := s.visible(ctx, p, id)
	if err != nil {
		return c, err
	}
	if !p.Can(omnigate.PermAssign) && !(c.State == omnigate.StateAssigned && c.AssignedTo == p.ID) {
		return c, refuse(KindForbidden, "forbidden", "only the assigned principal or a key with "+omnigate.PermAssign+" can transfer", nil)
	}
	to, known := s.cfg.Queues()[queueID]
	if !known {
		return c, refuse(KindNotFound, "queue_not_found", "no queue "+queueID, nil)
	}
	return s.transition(ctx, id, "transferred", func(_ store.Tx, c *omnigate.Conversation) error {
		c.QueueID, c.State, c.AssignedTo = to.ID, omnigate.StateQueued, ""
		return nil
	})
}

// Disconnect ends the assigned principal's part: outbound messages no carrier has taken
// yet are canceled (never sent later) and the conversation waits for wrap-up.
func (s *Service) Disconnect(ctx context.Context, p omnigate.Principal, id string) (omnigate.Conversation, []string, error) {
	if _, err := s.visible(ctx, p, id); err != nil {
		return omnigate.Conversation{}, nil, err
	}
	var canceled []string
	c, err := s.transition(ctx, id, "disconnected", func(tx store.Tx, c *omnigate.Conversation) error {
		if c.State != omnigate.StateAssigned || c.AssignedTo != p.ID {
			return refuse(KindConflict, "not_assigned", "only the principal the conversation is assigned to can disconnect it", nil)
		}
		ids, err := tx.CancelQueued(c.ID, "", s.cfg.Now().UTC())
		if err != nil {
			return err
		}
		canceled = ids
		now := s.cfg.Now().UTC()
		for _, mid := range ids {
			m, err := tx.Message(mid)
			if err != nil {
				return err
			}
			if err := s.event(tx, events.TypeMessageStatus, c.ID, events.Message(m), now); err != nil {
				return err
			}
		}
		c.State = omnigate.StateWrapup
		return nil
	})
	return c, canceled, err
}

// Wrapup completes after-work with a wrap-up code (required) and notes: the
// conversation is open (unassigned) until its threading timeline runs out.
func (s *Service) Wrapup(ctx context.Context, p omnigate.Principal, id, code, notes string) (omnigate.Conversation, error) {
	if strings.TrimSpace(code) == "" {
		return omnigate.Conversation{}, invalid("invalid_request", "a wrap-up code is required", FieldProblem{"code", "required"})
	}
	if _, err := s.visible(ctx, p, id); err != nil {
		return omnigate.Conversation{}, err
	}
	return s.transition(ctx, id, "wrapped_up", func(_ store.Tx, c *omnigate.Conversation) error {
		if c.State != omnigate.StateWrapup || c.AssignedTo != p.ID {
			return refuse(KindConflict, "not_in_wrapup", "the conversation is not waiting for this principal's wrap-up", nil)
		}
		c.State, c.AssignedTo, c.WrapupCode, c.WrapupNotes = omnigate.StateOpen, "", code, notes
		return nil
	})
}
