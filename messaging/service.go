// Package messaging is omnigate's contact-center core and the one door to every use
// case: sending on behalf of a queue (validation, conversation rules, policy decisions,
// idempotency and the outbox insert in one transaction), the reads the API serves,
// conversation transitions (assign, transfer, disconnect, wrap-up), dead letters,
// typing indicators, and taking in what carriers report (threading, opt-outs, receipts,
// unsends). Each method checks the caller's visibility once and refuses with an *Error
// that carries a Kind; no store transaction leaves the package. Every change is one
// store transaction that also writes its platform event.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
)

// Observer receives what the service decided, for metrics. A nil Observer is fine.
type Observer interface {
	Decision(ch omnigate.Channel, rule string, allow bool)
	Message(m omnigate.Message)
	// MessageStatus reports a status a carrier's receipt moved a message to (delivered,
	// read, failed, ...), once per status, after the change committed.
	MessageStatus(m omnigate.Message, status omnigate.MessageStatus)
}

// Config configures a Service.
type Config struct {
	Store store.Store
	// Policy returns the policy in force (it may be reloaded at any time).
	Policy func() *policy.Policy
	// Queues returns the configured queues by id (the configuration may be reloaded).
	Queues func() map[string]omnigate.Queue
	// Principals returns the configured principals (assign checks the assignee
	// exists); nil: none.
	Principals func() []omnigate.Principal
	// DefaultCountry returns the country phone numbers without a country code are in
	// (the configuration may be reloaded); nil: none.
	DefaultCountry func() string
	// PolicyError reports why the last policy reload failed (nil when it did not), for
	// readiness.
	PolicyError func() error
	// Typer shows typing indicators to contacts; the relay, so that typing goes
	// through the carrier's circuit breaker. nil: typing is unsupported everywhere.
	Typer Typer
	// AllowPrivateMedia accepts media URLs on loopback, private or link-local hosts
	// (the sandbox and tests); otherwise they are refused, because a carrier or an
	// open-messaging integration would fetch them from inside the network.
	AllowPrivateMedia bool
	// Events turns platform events on (events.url is configured).
	Events   bool
	Now      func() time.Time
	Log      *slog.Logger
	Observer Observer
	// Templates lists a carrier's message templates for one of our addresses; nil:
	// templates are never synced and sends naming one are left to the carrier.
	Templates TemplateSource
	// Retention bounds how long message content and conversations are kept.
	Retention Retention

	// Registry, when set, fetches inbound media for GET /v1/media/{id}; the channels
	// whose adapter is an adapters.MediaFetcher get omnigate media URLs.
	Registry *adapters.Registry
	// MediaClient makes media downloads (it should refuse private destinations unless
	// they are allowed); http.DefaultClient when nil.
	MediaClient *http.Client
	// MediaBaseURL is omnigate's public URL, the prefix of /v1/media/{id} URLs.
	MediaBaseURL string
	// MediaMaxBytes caps a streamed attachment (DefaultMediaMaxBytes when 0).
	MediaMaxBytes int64

	// Profiles, when set, names the carriers whose user profiles give contacts their
	// display names (Messenger, Instagram); RunProfiles does the look-ups.
	Profiles ProfileSource
}

// Service implements the contact-center rules.
type Service struct {
	cfg      Config
	media    *mediaHold // ephemeral links, in memory only
	profiles *profiles
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Policy == nil || cfg.Queues == nil {
		return nil, errors.New("messaging: Store, Policy and Queues are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MediaMaxBytes <= 0 {
		cfg.MediaMaxBytes = DefaultMediaMaxBytes
	}
	return &Service{cfg: cfg, media: &mediaHold{}, profiles: newProfiles()}, nil
}

// NewID returns a time-ordered id with a prefix ("msg", "conv").
func NewID(prefix string) string {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return prefix + "_" + id.String()
}

// Result is the outcome for one recipient.
type Result struct {
	To             string           `json:"to"`
	Queue          string           `json:"queue"` // the queue sent on behalf of (the default one when none was named)
	Channel        omnigate.Channel `json:"channel,omitempty"`
	MessageID      string           `json:"id,omitempty"`
	ConversationID string           `json:"conversation_id,omitempty"`
	Status         string           `json:"status,omitempty"`
	Outcome        string           `json:"conversation,omitempty"` // new, continued, taken_over
	// Parts lists, in sending order, the ids of the messages a send became when the
	// channel carries it as several (Messenger or Instagram text with media); MessageID
	// is the first. Empty for a send that is one message.
	Parts    []string         `json:"parts,omitempty"`
	Decision *policy.Decision `json:"decision,omitempty"`
	// Templates, for a dry run refused because only a template may be sent, lists the
	// approved templates that can be sent instead.
	Templates []Template `json:"templates,omitempty"`
	Err       *Error     `json:"-"`
}

// Outcomes of a send for the conversation.
const (
	OutcomeNew       = "new"
	OutcomeContinued = "continued"
	OutcomeTakenOver = "taken_over"
)

// live reports whether c still threads new messages at now: a conversation held by a
// queue or an agent is live until it is disconnected; after that it stays open for the
// threading timeline past its last activity.
func live(c omnigate.Conversation, timeline time.Duration, now time.Time) bool {
	switch c.State {
	case omnigate.StateQueued, omnigate.StateAssigned:
		return true
	case omnigate.StateOpen, omnigate.StateWrapup:
		return now.Before(c.LastActivityAt.Add(timeline))
	}
	return false
}

// EffectiveState is c's state as of now: a disconnected conversation whose threading
// timeline has run out is closed even before anything touched it again.
func (s *Service) EffectiveState(c omnigate.Conversation, now time.Time) omnigate.ConversationState {
	if c.State == omnigate.StateClosed {
		return c.State
	}
	if !live(c, s.timeline(c.QueueID, c.Channel), now) {
		return omnigate.StateClosed
	}
	return c.State
}

func (s *Service) timeline(queueID string, ch omnigate.Channel) time.Duration {
	return s.cfg.Policy().Rules(queueID, ch).ThreadingTimeline
}

// Send validates req (every bad field at once), checks that the principal may send
// for the queue, decides for each recipient and enqueues one message per allowed
// recipient, all in one transaction. Per-recipient refusals are in the results; the
// error is a refusal of the whole request (*Error) or a failure of the store.
func (s *Service) Send(ctx context.Context, req SendRequest) ([]Result, error) {
	v, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, v, false, nil)
}

// Check answers what Send would, recipient by recipient, without writing anything.
func (s *Service) Check(ctx context.Context, req SendRequest) ([]Result, error) {
	v, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, v, true, nil)
}

// send decides and, unless dryRun, enqueues. finish, when set, runs in the same
// transaction after every recipient was handled (the idempotency record).
func (s *Service) send(ctx context.Context, req send, dryRun bool, finish func(tx store.Tx, results []Result) error) ([]Result, error) {
	ourAddr := req.queue.Address(req.channel)
	if req.address != "" {
		// A reply by conversation id goes out from the conversation's own address.
		ourAddr = req.address
	}
	if ourAddr == "" {
		return nil, refuse(KindUnprocessable, "no_outbound_address",
			fmt.Sprintf("queue %q has no %s address", req.queue.ID, req.channel), nil)
	}
	if err := s.checkTemplate(ctx, req.channel, ourAddr, req.template); err != nil {
		return nil, err
	}
	rules := s.cfg.Policy().Rules(req.queue.ID, req.channel)
	var results []Result
	var observed []omnigate.Message
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		results, observed = results[:0], observed[:0]
		now := s.cfg.Now().UTC()
		keys := make([]store.ConversationKey, 0, len(req.to))
		for _, to := range req.to {
			if req.channel == omnigate.WhatsApp && omnigate.IsWhatsAppUserID(to) {
				// A WhatsApp user id whose phone number is known is that contact: its
				// thread, window and opt-outs.
				addr, err := tx.ContactByAlias(req.channel, to)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err == nil {
					to = addr
				}
			}
			keys = append(keys, store.ConversationKey{Channel: req.channel, Address: ourAddr, ContactAddress: to})
		}
		sorted := slices.Clone(keys)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].ContactAddress < sorted[j].ContactAddress })
		for _, k := range sorted {
			if err := tx.LockKey(k); err != nil {
				return err
			}
		}
		for _, k := range keys {
			res, ms, err := s.sendOne(tx, req, dryRun, rules, k, now)
			if err != nil {
				return err
			}
			results = append(results, res)
			observed = append(observed, ms...)
		}
		if finish != nil {
			return finish(tx, results)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if dryRun {
		if err := s.offerTemplates(ctx, req.channel, ourAddr, results); err != nil {
			return nil, err
		}
	}
	if s.cfg.Observer != nil {
		for _, r := range results {
			if r.Decision != nil {
				s.cfg.Observer.Decision(req.channel, r.Decision.Rule, r.Decision.Allow)
			}
		}
		for _, m := range observed {
			s.cfg.Observer.Message(m)
		}
	}
	return results, nil
}

func (s *Service) sendOne(tx store.Tx, req send, dryRun bool, rules policy.Rules, k store.ConversationKey, now time.Time) (Result, []omnigate.Message, error) {
	res := Result{To: k.ContactAddress, Queue: req.queue.ID, Channel: req.channel}
	rc, err := tx.Recipient(k)
	if err != nil {
		return res, nil, err
	}
	latest, hasLatest, contact := rc.Latest, rc.HasLatest, rc.Contact
	facts := policy.Facts{OptedOut: slices.Contains(contact.OptedOut, k.Address)}
	if hasLatest {
		// The reply window and cap follow the contact, not the thread: a new
		// conversation inherits them from the last one.
		facts.LastInboundAt, facts.RepliesSinceInbound = latest.LastInboundAt, latest.RepliesSinceInbound
	}
	pm := policy.Message{Channel: k.Channel, Text: req.text, Template: req.template != nil, Media: len(req.media), Sender: req.sender}
	if facts.OptedOut {
		// An opt-out is decided before any conversation conflict: whoever holds the
		// thread, nothing may be sent, and the agent must learn that rather than be
		// sent to take over a conversation only to be refused again.
		return deniedResult(res, policy.Decide(rules, facts, pm, now)), nil, nil
	}
	if req.conversation != "" && (!hasLatest || latest.ID != req.conversation || !live(latest, rules.ThreadingTimeline, now)) {
		res.Err = refuse(KindConflict, "conversation_closed",
			"the conversation is closed; send with POST /v1/messages to start a new one", map[string]any{"conversation_id": req.conversation})
		return res, nil, nil
	}
	conv := latest
	outcome := OutcomeNew
	if hasLatest && live(latest, rules.ThreadingTimeline, now) {
		switch {
		case latest.State == omnigate.StateQueued:
			res.Err = refuse(KindConflict, "conversation_active",
				"a conversation with this contact is waiting in a queue", map[string]any{"conversation_id": latest.ID})
			return res, nil, nil
		case latest.State == omnigate.StateAssigned && latest.AssignedTo != req.principal.ID:
			res.Err = refuse(KindConflict, "conversation_active",
				"a conversation with this contact is assigned to another agent", map[string]any{"conversation_id": latest.ID})
			return res, nil, nil
		case latest.State == omnigate.StateAssigned:
			outcome = OutcomeContinued
		case !req.takeover:
			res.Err = refuse(KindConflict, "takeover_required",
				"an unassigned conversation with this contact is open; resend with \"takeover\": true to take it over with its history",
				map[string]any{"conversation_id": latest.ID})
			return res, nil, nil
		default:
			outcome = OutcomeTakenOver
		}
	}

	d := policy.Decide(rules, facts, pm, now)
	res.Outcome = outcome
	if !d.Allow {
		res.Decision = &d
		res.Err = denied(d)
		return res, nil, nil
	}
	res.Decision = &d
	if dryRun {
		if outcome != OutcomeNew {
			res.ConversationID = conv.ID
		}
		return res, nil, nil
	}

	// Every write of the send goes to the store at once: on PostgreSQL one round trip.
	w := store.Writes{Now: now, Contacts: []omnigate.Contact{{Channel: k.Channel, Address: k.ContactAddress}}}
	change := ""
	switch outcome {
	case OutcomeNew:
		if hasLatest && latest.State != omnigate.StateClosed {
			latest.State = omnigate.StateClosed
			w.Updated = append(w.Updated, latest)
		}
		conv = omnigate.Conversation{ID: NewID("conv"), Channel: k.Channel, QueueID: req.queue.ID, Address: k.Address,
			ContactAddress: k.ContactAddress, ContactName: contact.Name, OpenedAt: now,
			LastInboundAt: facts.LastInboundAt, RepliesSinceInbound: facts.RepliesSinceInbound}
		change = "opened"
	case OutcomeTakenOver:
		change = "taken_over"
		conv.QueueID = req.queue.ID
		conv.WrapupCode, conv.WrapupNotes = "", ""
	}
	conv.State, conv.AssignedTo = omnigate.StateAssigned, req.principal.ID
	conv.LastActivityAt = now
	conv.RepliesSinceInbound++

	for _, p := range parts(k.Channel, req.text, req.template, req.media) {
		w.Messages = append(w.Messages, omnigate.Message{ID: NewID("msg"), ConversationID: conv.ID, Direction: omnigate.Outbound,
			Channel: k.Channel, QueueID: req.queue.ID, From: k.Address, To: k.ContactAddress, Text: p.Text,
			Template: req.template, Media: p.Media, Sender: req.sender, PrincipalID: req.principal.ID, Tag: d.Tag,
			Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now})
	}
	msgs := w.Messages
	if outcome == OutcomeNew {
		w.Inserted = append(w.Inserted, conv)
	} else {
		w.Updated = append(w.Updated, conv)
	}
	// Parts are enqueued in order on the conversation's FIFO key: each waits for the one
	// before it.
	for _, m := range msgs {
		w.Entries = append(w.Entries, store.NewEntry{Kind: store.KindDeliver, FIFOKey: conv.ID, MessageID: m.ID, DueAt: now})
		if len(msgs) > 1 {
			res.Parts = append(res.Parts, m.ID)
		}
	}
	if change != "" {
		if w.Entries, err = s.addEvent(w.Entries, events.TypeConversationUpdated, conv.ID, events.Conversation(conv, change), now); err != nil {
			return res, nil, err
		}
	}
	if err := tx.Write(w); err != nil {
		return res, nil, err
	}
	res.MessageID, res.ConversationID, res.Status = msgs[0].ID, conv.ID, string(msgs[0].Status)
	return res, msgs, nil
}

// denied is res refused by the policy decision d.
func deniedResult(res Result, d policy.Decision) Result {
	res.Decision = &d
	res.Err = denied(d)
	return res
}

// event writes a platform event in tx when events are on.
func (s *Service) event(tx store.Tx, typ, conversationID string, data any, now time.Time) error {
	rows, err := s.addEvent(nil, typ, conversationID, data, now)
	if err != nil {
		return err
	}
	return tx.Enqueue(rows...)
}

// addEvent appends a platform event's outbox row to rows when events are on, for a
// caller that enqueues several rows in one statement.
func (s *Service) addEvent(rows []store.NewEntry, typ, conversationID string, data any, now time.Time) ([]store.NewEntry, error) {
	if !s.cfg.Events {
		return rows, nil
	}
	e, err := events.Entry(typ, conversationID, data, now)
	if err != nil {
		return rows, err
	}
	return append(rows, e), nil
}
