package messaging

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// QueueStat counts a queue's outbound messages on one channel by status.
type QueueStat = store.QueueStat

// Message returns the message with id when p may see it: a member of its queue or an
// admin. Otherwise, or when there is none, it refuses with KindNotFound.
func (s *Service) Message(ctx context.Context, p omnigate.Principal, id string) (omnigate.Message, error) {
	m, err := s.cfg.Store.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.MemberOf(m.QueueID) && !p.Can(omnigate.PermAdmin)) {
		return omnigate.Message{}, refuse(KindNotFound, "message_not_found", "no message with this id", nil)
	}
	return m, err
}

// visible loads conversation id when p may see it: a member of its queue, an admin or
// a router (who assigns conversations of every queue). Otherwise it refuses with
// KindNotFound, as when there is none: a caller learns nothing of others' queues.
func (s *Service) visible(ctx context.Context, p omnigate.Principal, id string) (omnigate.Conversation, error) {
	c, err := s.cfg.Store.Conversation(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.MemberOf(c.QueueID) && !p.Can(omnigate.PermAdmin) && !p.Can(omnigate.PermAssign)) {
		return c, refuse(KindNotFound, "conversation_not_found", "no conversation with this id", nil)
	}
	return c, err
}

// view is c as callers see it: with its effective state now.
func (s *Service) view(c omnigate.Conversation) omnigate.Conversation {
	c.State = s.EffectiveState(c, s.cfg.Now())
	return c
}

// Conversation returns the conversation with id, with its effective state, and its
// messages oldest first, when p may see it (see visible).
func (s *Service) Conversation(ctx context.Context, p omnigate.Principal, id string) (omnigate.Conversation, []omnigate.Message, error) {
	c, err := s.visible(ctx, p, id)
	if err != nil {
		return c, nil, err
	}
	ms, err := s.cfg.Store.ConversationMessages(ctx, c.ID)
	if err != nil {
		return c, nil, err
	}
	return s.view(c), ms, nil
}

// ConversationQuery finds the conversations with one contact.
type ConversationQuery struct {
	Channel omnigate.Channel
	Address string // the contact's, as typed
	Country string // for a phone number without a country code; the default when empty
	Limit   int
}

// Conversations lists the conversations with a contact that p may see (its queues'
// unless an admin), most recent first, with their effective state.
func (s *Service) Conversations(ctx context.Context, p omnigate.Principal, q ConversationQuery) ([]omnigate.Conversation, error) {
	var problems []FieldProblem
	if !q.Channel.Valid() {
		problems = append(problems, FieldProblem{"channel", "required: one of sms, whatsapp, messenger, instagram, x, open"})
	}
	addr, ok := omnigate.NormalizeAddress(q.Channel, q.Address, s.country(q.Country))
	if !ok {
		problems = append(problems, FieldProblem{"address", "required: a valid address for the channel"})
	}
	if len(problems) > 0 {
		return nil, invalid("invalid_request", "the request has invalid fields", problems...)
	}
	cs, err := s.cfg.Store.Conversations(ctx, q.Channel, addr, q.Limit)
	if err != nil {
		return nil, err
	}
	var out []omnigate.Conversation
	for _, c := range cs {
		if p.MemberOf(c.QueueID) || p.Can(omnigate.PermAdmin) {
			out = append(out, s.view(c))
		}
	}
	return out, nil
}

func (s *Service) country(c string) string {
	if c != "" {
		return c
	}
	return s.defaultCountry()
}

// ContactQuery finds contacts by the start of their name or address.
type ContactQuery struct {
	Channel omnigate.Channel // all channels when empty
	Prefix  string
	Country string // for a typed phone number; the default when empty
	After   string // the cursor a previous page returned
	Limit   int
}

// ContactPage is one page of contacts; Next is the cursor of the next page, empty on
// the last.
type ContactPage struct {
	Contacts []omnigate.Contact
	Next     string
}

// Contacts finds contacts for p: only those of conversations in p's queues, unless p
// belongs to every queue ("*"). p needs the send or the queue-view permission.
func (s *Service) Contacts(ctx context.Context, p omnigate.Principal, q ContactQuery) (ContactPage, error) {
	if !p.Can(omnigate.PermSend) && !p.Can(omnigate.PermQueues) {
		return ContactPage{}, refuse(KindForbidden, "forbidden", "this key lacks the "+omnigate.PermSend+" permission", nil)
	}
	ch := q.Channel
	if ch != "" && !ch.Valid() {
		return ContactPage{}, invalid("invalid_request", "unknown channel", FieldProblem{"channel", "unknown channel"})
	}
	prefix := strings.TrimSpace(q.Prefix)
	if n, ok := omnigate.NormalizeAddress(ch, prefix, s.country(q.Country)); ch.UsesPhoneNumbers() && ok {
		// A whole number typed as the compose box takes it, "(415) 555-0100" included,
		// is stored in E.164 with its country code.
		prefix = n
	} else if ch.UsesPhoneNumbers() && strings.HasPrefix(prefix, "(") || strings.HasPrefix(prefix, "+") {
		// A typed number may be partial; match its digits as they are stored.
		prefix = "+" + strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, prefix)
	}
	var queues []string
	if !slices.Contains(p.Queues, "*") {
		queues = append([]string{}, p.Queues...)
	}
	cs, err := s.cfg.Store.Contacts(ctx, store.ContactQuery{Channel: ch, Prefix: prefix, After: q.After, Queues: queues, Limit: q.Limit + 1})
	if err != nil {
		return ContactPage{}, err
	}
	page := ContactPage{Contacts: cs}
	if len(cs) > q.Limit {
		page.Contacts = cs[:q.Limit]
		last := cs[q.Limit-1]
		page.Next = string(last.Channel) + "|" + last.Address
	}
	return page, nil
}

// QueueQuery finds the queues a principal belongs to.
type QueueQuery struct {
	Prefix  string           // of the name or id, case-insensitive
	Channel omnigate.Channel // only queues with an address on it, when set
	After   string           // the id a previous page ended with
	Limit   int
}

// QueuePage is one page of queues; Next is the cursor of the next page, empty on the
// last.
type QueuePage struct {
	Queues []omnigate.Queue
	Next   string
}

// Queues lists the queues p belongs to, ordered by name then id.
func (s *Service) Queues(ctx context.Context, p omnigate.Principal, q QueueQuery) (QueuePage, error) {
	if !p.Can(omnigate.PermQueues) {
		return QueuePage{}, forbidden(omnigate.PermQueues)
	}
	if q.Channel != "" && !q.Channel.Valid() {
		return QueuePage{}, invalid("invalid_request", "unknown channel", FieldProblem{"channel", "unknown channel"})
	}
	prefix := strings.ToLower(q.Prefix)
	var qs []omnigate.Queue
	for _, x := range s.cfg.Queues() {
		if !p.MemberOf(x.ID) || (q.Channel != "" && x.Address(q.Channel) == "") {
			continue
		}
		if prefix != "" && !strings.HasPrefix(strings.ToLower(x.Name), prefix) && !strings.HasPrefix(strings.ToLower(x.ID), prefix) {
			continue
		}
		qs = append(qs, x)
	}
	// Stable order: by name, then id; the cursor is the last id returned.
	sort.Slice(qs, func(i, j int) bool {
		if !strings.EqualFold(qs[i].Name, qs[j].Name) {
			return strings.ToLower(qs[i].Name) < strings.ToLower(qs[j].Name)
		}
		return qs[i].ID < qs[j].ID
	})
	if q.After != "" {
		for i, x := range qs {
			if x.ID == q.After {
				qs = qs[i+1:]
				break
			}
		}
	}
	page := QueuePage{Queues: qs}
	if len(qs) > q.Limit {
		page.Queues = qs[:q.Limit]
		page.Next = qs[q.Limit-1].ID
	}
	return page, nil
}

// DefaultStatsWindow is how far back QueueStats counts when no window is given.
const DefaultStatsWindow = 24 * time.Hour

// QueueStats counts what was sent on behalf of queue id within window (a duration
// such as "1h"; DefaultStatsWindow when empty), by channel and status. A queue p does
// not belong to is not found.
func (s *Service) QueueStats(ctx context.Context, p omnigate.Principal, id, window string) ([]QueueStat, time.Duration, error) {
	if !p.Can(omnigate.PermQueues) {
		return nil, 0, forbidden(omnigate.PermQueues)
	}
	if _, ok := s.cfg.Queues()[id]; !ok || !p.MemberOf(id) {
		return nil, 0, refuse(KindNotFound, "queue_not_found", "no queue "+id, nil)
	}
	d := DefaultStatsWindow
	if window != "" {
		var err error
		d, err = time.ParseDuration(window)
		if err != nil || d <= 0 {
			return nil, 0, invalid("invalid_request", "window must be a duration such as 1h or 24h", FieldProblem{"window", "not a duration"})
		}
	}
	stats, err := s.cfg.Store.QueueStats(ctx, id, s.cfg.Now().Add(-d))
	return stats, d, err
}
