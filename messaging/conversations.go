package messaging

import (
	"context"
	"errors"

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
	return out, err
}

// Assign gives the conversation to principalID (the platform's routing decision).
func (s *Service) Assign(ctx context.Context, id, principalID string) (omnigate.Conversation, error) {
	return s.transition(ctx, id, "assigned", func(_ store.Tx, c *omnigate.Conversation) error {
		c.State, c.AssignedTo = omnigate.StateAssigned, principalID
		return nil
	})
}

// Transfer is a blind transfer to another queue: unassigned and queued there. The
// thread keeps its address (it is between that address and the contact), so replies in
// it still come from the number or account the contact knows.
func (s *Service) Transfer(ctx context.Context, id string, to omnigate.Queue) (omnigate.Conversation, error) {
	return s.transition(ctx, id, "transferred", func(_ store.Tx, c *omnigate.Conversation) error {
		c.QueueID, c.State, c.AssignedTo = to.ID, omnigate.StateQueued, ""
		return nil
	})
}

// Disconnect ends the assigned principal's part: outbound messages no carrier has taken
// yet are canceled (never sent later) and the conversation waits for wrap-up.
func (s *Service) Disconnect(ctx context.Context, id string, p omnigate.Principal) (omnigate.Conversation, []string, error) {
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

// Wrapup completes after-work: the conversation is open (unassigned) until its
// threading timeline runs out.
func (s *Service) Wrapup(ctx context.Context, id string, p omnigate.Principal, code, notes string) (omnigate.Conversation, error) {
	return s.transition(ctx, id, "wrapped_up", func(_ store.Tx, c *omnigate.Conversation) error {
		if c.State != omnigate.StateWrapup || c.AssignedTo != p.ID {
			return refuse(KindConflict, "not_in_wrapup", "the conversation is not waiting for this principal's wrap-up", nil)
		}
		c.State, c.AssignedTo, c.WrapupCode, c.WrapupNotes = omnigate.StateOpen, "", code, notes
		return nil
	})
}
