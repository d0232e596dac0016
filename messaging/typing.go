package messaging

import (
	"context"
	"errors"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/outbox"
)

// Typer shows or hides a typing indicator to a contact, from one of our addresses.
// It returns outbox.ErrNoTyping when the channel's carrier has none, an
// *adapters.PermanentError when the carrier refuses it, and any other error when the
// carrier could not be reached (or its circuit breaker is open).
// The relay implements it (*outbox.Relay).
type Typer interface {
	Typing(ctx context.Context, ch omnigate.Channel, from, to string, on bool) error
}

// Typing shows (on) or hides a typing indicator in conversation id. Only the principal
// the conversation is assigned to may. It is ephemeral: sent at once, best effort,
// never queued behind messages.
func (s *Service) Typing(ctx context.Context, p omnigate.Principal, id string, on bool) error {
	c, err := s.visible(ctx, p, id)
	if err != nil {
		return err
	}
	if c.State != omnigate.StateAssigned || c.AssignedTo != p.ID {
		return refuse(KindConflict, "not_assigned", "only the assigned principal can show typing", nil)
	}
	unsupported := refuse(KindUnprocessable, "typing_unsupported", string(c.Channel)+" has no typing indicator", nil)
	if s.cfg.Typer == nil {
		return unsupported
	}
	err = s.cfg.Typer.Typing(ctx, c.Channel, c.Address, c.ContactAddress, on)
	var pe *adapters.PermanentError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, outbox.ErrNoTyping):
		return unsupported
	case errors.As(err, &pe):
		return &Error{Kind: KindUnprocessable, Code: "typing_unsupported", Message: pe.Message,
			Details: map[string]any{"carrier_code": pe.Code}, Err: err}
	}
	s.cfg.Log.Warn("messaging: typing indicator not delivered", "channel", c.Channel, "err", err)
	return &Error{Kind: KindUnavailable, Code: "carrier_unavailable", Message: "the carrier did not accept the typing indicator", Err: err}
}

var _ Typer = (*outbox.Relay)(nil)
