package open

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/signature"
)

// ParseWebhook verifies and reads a post to /webhooks/open/{integration}: one normalized
// message or a JSON array of them. Inbound Text becomes EventMessage, a Receipt
// (Sent, Delivered, Read, Failed) becomes EventStatus naming our message id, and a Typing
// event becomes EventTyping; event types omnigate does not model are skipped.
// Errors: adapters.ErrBadSignature for a missing or wrong signature and for an unknown
// integration (the two are indistinguishable to the caller), adapters.ErrMalformed
// (wrapped) for anything else that is not the open format.
func (o *Open) ParseWebhook(r *http.Request, body []byte) ([]adapters.Event, error) {
	id := r.PathValue("integration")
	if id == "" {
		id = path.Base(strings.TrimSuffix(r.URL.Path, "/"))
	}
	in, known := o.integrations[id]
	// An unknown integration is checked against an empty key all the same, so that the
	// answer neither says nor times which integrations exist.
	if !verify(in.Secret, r.Header.Get(SignatureHeader), body) || !known {
		return nil, fmt.Errorf("open: webhook: %w", adapters.ErrBadSignature)
	}

	var msgs []message
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &msgs); err != nil {
			return nil, malformed("batch: %v", err)
		}
		if len(msgs) == 0 {
			return nil, malformed("empty batch")
		}
	} else {
		var m message
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, malformed("%v", err)
		}
		msgs = []message{m}
	}

	var evs []adapters.Event
	for i, m := range msgs {
		got, err := parseMessage(id, m)
		if err != nil {
			if len(msgs) > 1 {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			return nil, err
		}
		evs = append(evs, got...)
	}
	return evs, nil
}

// verify reports whether header is "sha256=" + base64 HMAC-SHA256(secret, body), compared
// in constant time.
func verify(secret, header string, body []byte) bool {
	return signature.VerifySHA256(secret, header, body, signature.Base64)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("open: webhook: %w: %s", adapters.ErrMalformed, fmt.Sprintf(format, args...))
}

func parseMessage(integration string, m message) ([]adapters.Event, error) {
	ts, err := parseTime(m.Channel.Time)
	if err != nil {
		return nil, err
	}
	base := adapters.Event{Channel: omnigate.Open, Address: integration, Timestamp: ts}
	switch m.Type {
	case typeText:
		return parseText(integration, m, base)
	case typeReceipt:
		return parseReceipt(m, base)
	case typeEvent:
		return parseEvents(m, base)
	case "":
		return nil, malformed("no type")
	}
	return nil, malformed("unknown type %q", m.Type)
}

func parseText(integration string, m message, ev adapters.Event) ([]adapters.Event, error) {
	if m.Direction != "" && m.Direction != directionInbound {
		return nil, malformed("text with direction %q", m.Direction)
	}
	if m.Channel.MessageID == "" {
		return nil, malformed("text without channel.messageId")
	}
	if m.Channel.From == nil || m.Channel.From.ID == "" {
		return nil, malformed("text without channel.from.id")
	}
	if m.Channel.To != nil && m.Channel.To.ID != "" && m.Channel.To.ID != integration {
		return nil, malformed("text addressed to another integration")
	}
	ev.Kind = adapters.EventMessage
	ev.ProviderMessageID = m.Channel.MessageID
	ev.ContactAddress = m.Channel.From.ID
	ev.ContactName = displayName(m.Channel.From)
	ev.Text = m.Text
	for _, c := range m.Content {
		if c.ContentType == "Attachment" && c.Attachment != nil && c.Attachment.URL != "" {
			ev.Media = append(ev.Media, omnigate.Media{URL: c.Attachment.URL, ContentType: c.Attachment.Mime})
		}
	}
	if ev.Text == "" && len(ev.Media) == 0 {
		return nil, malformed("text without text or attachments")
	}
	return []adapters.Event{ev}, nil
}

// displayName prefers the nickname the integration knows the contact by.
func displayName(p *party) string {
	if p.Nickname != "" {
		return p.Nickname
	}
	return strings.TrimSpace(p.FirstName + " " + p.LastName)
}

func parseReceipt(m message, ev adapters.Event) ([]adapters.Event, error) {
	if m.Channel.MessageID == "" {
		return nil, malformed("receipt without channel.messageId")
	}
	switch m.Status {
	case "Sent":
		ev.Status = omnigate.StatusSent
	case "Delivered":
		ev.Status = omnigate.StatusDelivered
	case "Read":
		ev.Status = omnigate.StatusRead
	case "Failed":
		ev.Status = omnigate.StatusFailed
	default:
		return nil, malformed("receipt status %q", m.Status)
	}
	ev.Kind = adapters.EventStatus
	ev.MessageID = m.Channel.MessageID
	ev.ProviderMessageID = m.Channel.MessageID
	if m.Channel.To != nil {
		ev.ContactAddress = m.Channel.To.ID
	}
	if len(m.Reasons) > 0 {
		ev.ErrorCode = m.Reasons[0].Code
		ev.ErrorMessage = m.Reasons[0].Message
	}
	return []adapters.Event{ev}, nil
}

func parseEvents(m message, base adapters.Event) ([]adapters.Event, error) {
	if len(m.Events) == 0 {
		return nil, malformed("event without events")
	}
	if m.Channel.From == nil || m.Channel.From.ID == "" {
		return nil, malformed("event without channel.from.id")
	}
	var evs []adapters.Event
	for _, e := range m.Events {
		if e.EventType != "Typing" {
			continue // presence and the like: nothing omnigate tracks
		}
		if e.Typing == nil {
			return nil, malformed("typing event without typing")
		}
		ev := base
		ev.Kind = adapters.EventTyping
		ev.ContactAddress = m.Channel.From.ID
		switch e.Typing.Type {
		case "On":
			ev.Typing = true
		case "Off":
		default:
			return nil, malformed("typing type %q", e.Typing.Type)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, malformed("channel.time %q", s)
	}
	return t, nil
}
