package messaging

import (
	"context"
	"errors"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/store"
)

// Erasure is what erasing a contact did.
type Erasure struct {
	Channel omnigate.Channel `json:"channel"`
	Address string           `json:"address"`
	// Conversations lists the contact's conversations, kept as threads of tombstones.
	Conversations []string `json:"conversations"`
	// Messages counts the messages whose text, media and template variables went.
	Messages int `json:"messages"`
	// Canceled lists queued outbound messages canceled before they reached a carrier.
	Canceled []string `json:"canceled"`
}

// EraseContact erases a contact on request (an administrator acting on a data
// subject's request): its name, and the text, media references and template variables
// of every message in all its conversations, whichever queue holds them. Messages stay
// as tombstones, so threads, counts and statistics hold; opt-outs stay, so the contact
// is never messaged against its wish. Queued outbound messages are canceled. One
// contact.erased event tells the platform to erase its copies. Refusals: forbidden
// (403) without the admin permission, contact_not_found (404).
func (s *Service) EraseContact(ctx context.Context, p omnigate.Principal, ch omnigate.Channel, address string) (Erasure, error) {
	if !p.Can(omnigate.PermAdmin) {
		return Erasure{}, refuse(KindForbidden, "forbidden", "erasing a contact needs the admin permission",
			map[string]any{"permission": omnigate.PermAdmin})
	}
	out := Erasure{Channel: ch, Address: address}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		now := s.cfg.Now().UTC()
		er, err := tx.EraseContact(ch, address, now)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(KindNotFound, "contact_not_found", "no contact "+address+" on "+string(ch), nil)
		}
		if err != nil {
			return err
		}
		out.Conversations, out.Messages, out.Canceled = er.Conversations, er.Messages, er.Canceled
		for _, mid := range er.Canceled {
			m, err := tx.Message(mid)
			if err != nil {
				return err
			}
			if err := s.event(tx, events.TypeMessageStatus, m.ConversationID, events.Message(m), now); err != nil {
				return err
			}
		}
		if !s.cfg.Events {
			return nil
		}
		e, err := events.ErasureEntry(ch, address, er, now)
		if err != nil {
			return err
		}
		return tx.Enqueue(e)
	})
	if out.Conversations == nil {
		out.Conversations = []string{}
	}
	if out.Canceled == nil {
		out.Canceled = []string{}
	}
	if err == nil {
		s.cfg.Log.Info("contact erased", "channel", ch, "conversations", len(out.Conversations), "messages", out.Messages,
			"principal", p.ID)
	}
	return out, err
}
