package messaging

import (
	"context"
	"errors"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
)

// IngestStats counts what Ingest did with a webhook's events.
type IngestStats struct {
	Stored     int // messages, receipts and unsends recorded
	Duplicates int // carrier retries of something already stored
	Dropped    int // events with nowhere to go (unknown address, story mentions off, typing off)
}

// Ingest records every event of one webhook delivery in one transaction. When it
// returns nil the carrier may be told the delivery succeeded.
func (s *Service) Ingest(ctx context.Context, provider string, evs []adapters.Event) (IngestStats, error) {
	var st IngestStats
	queues := s.cfg.Queues()
	pol := s.cfg.Policy()
	var seen, moved []omnigate.Message
	// held are the ephemeral links this attempt put in memory: a failed attempt drops
	// them, so only committed messages have theirs.
	var held []string
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		st, seen, moved = IngestStats{}, seen[:0], moved[:0]
		s.media.drop(held)
		held = held[:0]
		now := s.cfg.Now().UTC()
		for _, ev := range evs {
			m, outcome, err := s.ingestOne(tx, provider, queues, pol, ev, now, &held, &moved)
			if err != nil {
				return err
			}
			switch outcome {
			case stored:
				st.Stored++
			case duplicate:
				st.Duplicates++
			case dropped:
				st.Dropped++
			}
			if m != nil {
				seen = append(seen, *m)
			}
		}
		return nil
	})
	if err != nil {
		s.media.drop(held)
	} else {
		s.wantProfiles(seen)
	}
	if err == nil && s.cfg.Observer != nil {
		for _, m := range seen {
			s.cfg.Observer.Message(m)
		}
		// Receipts count like the relay's own transitions: once per status reached.
		for _, m := range moved {
			s.cfg.Observer.MessageStatus(m, m.Status)
		}
	}
	return st, err
}

// dedupeScope is the namespace a carrier's message ids are unique in. Open-messaging
// integrations each number their own messages, so two integrations may send the same
// id: the scope is the integration. Other carriers' ids are unique per carrier.
func dedupeScope(provider string, ev adapters.Event) string {
	if ev.Channel == omnigate.Open {
		return provider + ":" + ev.Address
	}
	return provider
}

type ingestOutcome int

const (
	stored ingestOutcome = iota
	duplicate
	dropped
)

// queueFor finds the queue that owns our address on ch.
func queueFor(queues map[string]omnigate.Queue, ch omnigate.Channel, address string) (omnigate.Queue, bool) {
	for _, q := range queues {
		if q.Address(ch) == address {
			return q, true
		}
	}
	return omnigate.Queue{}, false
}

// ingestOne records one event. Ephemeral links it holds in memory are appended to
// held; messages whose status a receipt moved are appended to moved, with the status
// they reached.
func (s *Service) ingestOne(tx store.Tx, provider string, queues map[string]omnigate.Queue, pol *policy.Policy, ev adapters.Event, now time.Time, held *[]string, moved *[]omnigate.Message) (*omnigate.Message, ingestOutcome, error) {
	switch ev.Kind {
	case adapters.EventMessage:
		return s.ingestMessage(tx, provider, queues, pol, ev, now, held)
	case adapters.EventEcho:
		return s.ingestEcho(tx, provider, queues, ev, now)
	case adapters.EventStatus:
		return s.ingestStatus(tx, ev, now, moved)
	case adapters.EventUnsend:
		m, err := tx.MessageByProviderID(ev.Channel, ev.ProviderMessageID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, dropped, nil
		}
		if err != nil {
			return nil, stored, err
		}
		if m.Deleted {
			return nil, duplicate, nil
		}
		if err := tx.MarkDeleted(m.ID, now); err != nil {
			return nil, stored, err
		}
		return nil, stored, s.event(tx, events.TypeMessageDeleted, m.ConversationID, map[string]string{"id": m.ID}, now)
	case adapters.EventTyping:
		q, ok := queueFor(queues, ev.Channel, ev.Address)
		rules := pol.Rules(q.ID, ev.Channel)
		if !ok || !rules.InboundTypingIndicators {
			return nil, dropped, nil
		}
		c, err := tx.LatestConversation(store.ConversationKey{Channel: ev.Channel, Address: ev.Address, ContactAddress: ev.ContactAddress})
		if err != nil {
			return nil, dropped, nil
		}
		return nil, stored, s.event(tx, events.TypeTyping, c.ID, map[string]any{"contact": ev.ContactAddress, "typing": ev.Typing}, now)
	}
	return nil, dropped, nil
}

func (s *Service) ingestMessage(tx store.Tx, provider string, queues map[string]omnigate.Queue, pol *policy.Policy, ev adapters.Event, now time.Time, held *[]string) (*omnigate.Message, ingestOutcome, error) {
	q, ok := queueFor(queues, ev.Channel, ev.Address)
	if !ok {
		s.cfg.Log.Warn("inbound message to an address no queue owns; acknowledged and dropped",
			"provider", provider, "channel", ev.Channel, "address", ev.Address)
		return nil, dropped, nil
	}
	rules := pol.Rules(q.ID, ev.Channel)
	if ev.StoryMention && !rules.StoryMentions {
		return nil, dropped, nil
	}
	fresh, err := tx.SeenInbound(dedupeScope(provider, ev), ev.ProviderMessageID, now)
	if err != nil || !fresh {
		return nil, duplicate, err
	}
	if ev.Channel == omnigate.WhatsApp {
		if err := s.whatsAppIdentity(tx, &ev, now); err != nil {
			return nil, stored, err
		}
	}
	at := now
	if !ev.Timestamp.IsZero() && ev.Timestamp.Before(now) {
		at = ev.Timestamp.UTC()
	}
	k := store.ConversationKey{Channel: ev.Channel, Address: ev.Address, ContactAddress: ev.ContactAddress}
	if err := tx.LockKey(k); err != nil {
		return nil, stored, err
	}
	contact, err := tx.UpsertContact(omnigate.Contact{Channel: ev.Channel, Address: ev.ContactAddress, Name: ev.ContactName}, now)
	if err != nil {
		return nil, stored, err
	}
	conv, err := tx.LatestConversation(k)
	hasConv := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, stored, err
	}
	change := ""
	// The conversation, the message and the events go to the store in one Write: on
	// PostgreSQL one round trip.
	var w store.Writes
	if !hasConv || !live(conv, rules.ThreadingTimeline, now) {
		if hasConv && conv.State != omnigate.StateClosed {
			conv.State = omnigate.StateClosed
			w.Updated = append(w.Updated, conv)
		}
		conv = omnigate.Conversation{ID: NewID("conv"), Channel: ev.Channel, QueueID: q.ID, Address: ev.Address,
			ContactAddress: ev.ContactAddress, State: omnigate.StateQueued, OpenedAt: now}
		hasConv = false
		change = "opened"
	} else if conv.State == omnigate.StateOpen || conv.State == omnigate.StateWrapup {
		// The contact wrote again after the agent let go: route it again.
		conv.State, conv.AssignedTo = omnigate.StateQueued, ""
		change = "requeued"
	}
	conv.ContactName = contact.Name
	conv.LastInboundAt, conv.RepliesSinceInbound, conv.LastActivityAt = at, 0, now

	m := omnigate.Message{ID: NewID("msg"), ConversationID: conv.ID, Direction: omnigate.Inbound, Channel: ev.Channel,
		QueueID: conv.QueueID, From: ev.ContactAddress, To: ev.Address, Text: ev.Text, Status: omnigate.StatusReceived,
		ProviderMessageID: ev.ProviderMessageID, CreatedAt: now, UpdatedAt: now}
	// Attachments become omnigate media URLs; a story mention's link is held in memory
	// only and never reaches the store, the outbox or a log.
	if m.Media, err = s.inboundMedia(tx, ev, conv.ID, m.ID, at.Add(rules.StoryMediaTTL), now, held); err != nil {
		return nil, stored, err
	}
	if hasConv {
		w.Updated = append(w.Updated, conv)
	} else {
		w.Inserted = append(w.Inserted, conv)
	}
	w.Messages = append(w.Messages, m)
	// The conversation's change and the message: both events.
	if change != "" {
		if w.Entries, err = s.addEvent(w.Entries, events.TypeConversationUpdated, conv.ID, events.Conversation(conv, change), now); err != nil {
			return nil, stored, err
		}
	}
	data := events.Message(m)
	data.ContactName = displayName(contact)
	if ev.Ephemeral {
		data.StoryMention = ev.StoryMention
		exp := at.Add(rules.StoryMediaTTL)
		data.MediaExpiresAt = &exp
	}
	if w.Entries, err = s.addEvent(w.Entries, events.TypeMessageInbound, conv.ID, data, now); err != nil {
		return nil, stored, err
	}
	if err := tx.Write(w); err != nil {
		return nil, stored, err
	}
	if ev.Channel == omnigate.SMS || ev.Channel == omnigate.WhatsApp {
		// WhatsApp has no keywords unless the policy sets opt_out for it.
		if err := s.keyword(tx, rules, q, conv, ev, now); err != nil {
			return nil, stored, err
		}
	}
	return &m, stored, nil
}

// displayName is how the platform shows a contact: its profile name, else its address
// (an Instagram user without a name shows the page-scoped id).
func displayName(c omnigate.Contact) string {
	if c.Name != "" {
		return c.Name
	}
	return c.Address
}

// keyword applies opt-out keywords (SMS; WhatsApp when the policy sets them): STOP opts
// the contact out of this sending address, START opts back in, HELP is answered with
// the configured reply.
func (s *Service) keyword(tx store.Tx, rules policy.Rules, q omnigate.Queue, conv omnigate.Conversation, ev adapters.Event, now time.Time) error {
	switch rules.Keyword(ev.Text) {
	case policy.KeywordStop:
		return tx.SetOptOut(store.OptOut{Channel: ev.Channel, ContactAddress: ev.ContactAddress, OurAddress: ev.Address, OptedOut: true, Now: now})
	case policy.KeywordStart:
		return tx.SetOptOut(store.OptOut{Channel: ev.Channel, ContactAddress: ev.ContactAddress, OurAddress: ev.Address, OptedOut: false, Now: now})
	case policy.KeywordHelp:
		if rules.OptOut.HelpReply == "" {
			return nil
		}
		m := omnigate.Message{ID: NewID("msg"), ConversationID: conv.ID, Direction: omnigate.Outbound, Channel: ev.Channel,
			QueueID: q.ID, From: ev.Address, To: ev.ContactAddress, Text: rules.OptOut.HelpReply, Sender: omnigate.Automated,
			Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		return tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: conv.ID, MessageID: m.ID, DueAt: now})
	}
	return nil
}

func (s *Service) ingestEcho(tx store.Tx, provider string, queues map[string]omnigate.Queue, ev adapters.Event, now time.Time) (*omnigate.Message, ingestOutcome, error) {
	if _, err := tx.MessageByProviderID(ev.Channel, ev.ProviderMessageID); err == nil {
		return nil, duplicate, nil // our own send, already recorded
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, stored, err
	}
	if _, ok := queueFor(queues, ev.Channel, ev.Address); !ok {
		return nil, dropped, nil
	}
	fresh, err := tx.SeenInbound(provider, "echo:"+ev.ProviderMessageID, now)
	if err != nil || !fresh {
		return nil, duplicate, err
	}
	conv, err := tx.LatestConversation(store.ConversationKey{Channel: ev.Channel, Address: ev.Address, ContactAddress: ev.ContactAddress})
	if errors.Is(err, store.ErrNotFound) {
		return nil, dropped, nil // sent from outside omnigate to a contact we never threaded
	}
	if err != nil {
		return nil, stored, err
	}
	m := omnigate.Message{ID: NewID("msg"), ConversationID: conv.ID, Direction: omnigate.Outbound, Channel: ev.Channel,
		QueueID: conv.QueueID, From: ev.Address, To: ev.ContactAddress, Text: ev.Text, Media: ev.Media,
		Status: omnigate.StatusSent, ProviderMessageID: ev.ProviderMessageID, CreatedAt: now, UpdatedAt: now}
	if err := tx.InsertMessage(m); err != nil {
		return nil, stored, err
	}
	return &m, stored, s.event(tx, events.TypeMessageOutbound, conv.ID, events.Message(m), now)
}

func (s *Service) ingestStatus(tx store.Tx, ev adapters.Event, now time.Time, moved *[]omnigate.Message) (*omnigate.Message, ingestOutcome, error) {
	var targets []omnigate.Message
	switch {
	case ev.MessageID != "" || ev.ProviderMessageID != "":
		out, err := tx.ApplyReceipt(store.Receipt{Channel: ev.Channel, MessageID: ev.MessageID, ProviderMessageID: ev.ProviderMessageID,
			Status: ev.Status, ErrorCode: ev.ErrorCode, ErrorMessage: ev.ErrorMessage}, now)
		switch {
		case err != nil:
			return nil, stored, err
		case out.Unknown:
			return nil, dropped, nil
		case out.Held:
			return nil, stored, nil
		case !out.Changed:
			return nil, duplicate, nil
		}
		*moved = append(*moved, out.Message)
		return nil, stored, s.event(tx, events.TypeMessageStatus, out.Message.ConversationID, events.Message(out.Message), now)
	case !ev.Watermark.IsZero():
		conv, err := tx.LatestConversation(store.ConversationKey{Channel: ev.Channel, Address: ev.Address, ContactAddress: ev.ContactAddress})
		if errors.Is(err, store.ErrNotFound) {
			return nil, dropped, nil
		}
		if err != nil {
			return nil, stored, err
		}
		if targets, err = tx.OutboundBefore(conv.ID, ev.Watermark, ev.Status); err != nil {
			return nil, stored, err
		}
	default:
		return nil, dropped, nil
	}
	outcome := duplicate
	for _, m := range targets {
		changed, err := tx.SetMessageStatus(store.StatusUpdate{MessageID: m.ID, Status: ev.Status, ErrorCode: ev.ErrorCode, ErrorMessage: ev.ErrorMessage, Now: now})
		if err != nil {
			return nil, stored, err
		}
		if !changed {
			continue
		}
		outcome = stored
		m.Status = ev.Status
		if ev.ErrorCode != "" || ev.ErrorMessage != "" {
			m.ErrorCode, m.ErrorMessage = ev.ErrorCode, ev.ErrorMessage
		}
		*moved = append(*moved, m)
		if err := s.event(tx, events.TypeMessageStatus, m.ConversationID, events.Message(m), now); err != nil {
			return nil, stored, err
		}
	}
	return nil, outcome, nil
}

// whatsAppIdentity keeps one identity per WhatsApp user across usernames. A message
// that names both the phone number and the business-scoped user id records the id as
// an alias of the number; a message that names the id alone (the carrier withholds the
// number) is threaded on the number when it is known, so the user's conversations,
// reply window and opt-outs carry on. A user never seen with a number is known by the id.
func (s *Service) whatsAppIdentity(tx store.Tx, ev *adapters.Event, now time.Time) error {
	switch {
	case ev.ContactUserID != "":
		return tx.AliasContact(omnigate.WhatsApp, ev.ContactUserID, ev.ContactAddress, now)
	case omnigate.IsWhatsAppUserID(ev.ContactAddress):
		addr, err := tx.ContactByAlias(omnigate.WhatsApp, ev.ContactAddress)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ev.ContactAddress = addr
	}
	return nil
}
