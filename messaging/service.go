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
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
)

// Observer receives what the service decided, for metrics. A nil Observer is fine.
type Observer interface {
	Decision(ch omnigate.Channel, rule string, allow bool)
	Message(m omnigate.Message)
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
}

// Service implements the contact-center rules.
type Service struct {
	cfg Config
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
	return &Service{cfg: cfg}, nil
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
	MessageID      string           `json:"id,omitempty"`
	ConversationID string           `json:"conversation_id,omitempty"`
	Status         string           `json:"status,omitempty"`
	Outcome        string           `json:"conversation,omitempty"` // new, continued, taken_over
	Decision       *policy.Decision `json:"decision,omitempty"`
	Err            *Error           `json:"-"`
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
	v, err := s.validate(req)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, v, false, nil)
}

// Check answers what Send would, recipient by recipient, without writing anything.
func (s *Service) Check(ctx context.Context, req SendRequest) ([]Result, error) {
	v, err := s.validate(req)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, v, true, nil)
}

// send decides and, unless dryRun, enqueues. finish, when set, runs in the same
// transaction after every recipient was handled (the idempotency record).
func (s *Service) send(ctx context.Context, req send, dryRun bool, finish func(tx store.Tx, results []Result) error) ([]Result, error) {
	ourAddr := req.queue.Address(req.channel)
	if ourAddr == "" {
		return nil, refuse(KindUnprocessable, "no_outbound_address",
			fmt.Sprintf("queue %q has no %s address", req.queue.ID, req.channel), nil)
	}
	rules := s.cfg.Policy().Rules(req.queue.ID, req.channel)
	// Lock every conversation key up front, in one order, so that two batch sends with
	// overlapping recipients cannot deadlock.
	keys := make([]store.ConversationKey, 0, len(req.to))
	for _, to := range req.to {
		keys = append(keys, store.ConversationKey{Channel: req.channel, Address: ourAddr, ContactAddress: to})
	}
	sorted := slices.Clone(keys)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ContactAddress < sorted[j].ContactAddress })

	var results []Result
	var observed []omnigate.Message
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		results, observed = results[:0], observed[:0]
		now := s.cfg.Now().UTC()
		for _, k := range sorted {
			if err := tx.LockKey(k); err != nil {
				return err
			}
		}
		for _, k := range keys {
			res, m, err := s.sendOne(tx, req, dryRun, rules, k, now)
			if err != nil {
				return err
			}
			results = append(results, res)
			if m != nil {
				observed = append(observed, *m)
			}
		}
		if finish != nil {
			return finish(tx, results)
		}
		return nil
	})
	if err != nil {
		return nil, err
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

func (s *Service) sendOne(tx store.Tx, req send, dryRun bool, rules policy.Rules, k store.ConversationKey, now time.Time) (Result, *omnigate.Message, error) {
	res := Result{To: k.ContactAddress, Queue: req.queue.ID}
	latest, err := tx.LatestConversation(k)
	hasLatest := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return res, nil, err
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

	contact, err := tx.Contact(k.Channel, k.ContactAddress)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return res, nil, err
	}
	facts := policy.Facts{OptedOut: slices.Contains(contact.OptedOut, k.Address)}
	if hasLatest {
		// The reply window and cap follow the contact, not the thread: a new
		// conversation inherits them from the last one.
		facts.LastInboundAt, facts.RepliesSinceInbound = latest.LastInboundAt, latest.RepliesSinceInbound
	}
	pm := policy.Message{Channel: k.Channel, Text: req.text, Template: req.template != nil, Media: len(req.media), Sender: req.sender}
	d := policy.Decide(rules, facts, pm, now)
	res.Decision = &d
	res.Outcome = outcome
	if !d.Allow {
		res.Err = denied(d)
		return res, nil, nil
	}
	if dryRun {
		if outcome != OutcomeNew {
			res.ConversationID = conv.ID
		}
		return res, nil, nil
	}

	if err := tx.UpsertContact(omnigate.Contact{Channel: k.Channel, Address: k.ContactAddress}, now); err != nil {
		return res, nil, err
	}
	change := ""
	switch outcome {
	case OutcomeNew:
		if hasLatest && latest.State != omnigate.StateClosed {
			latest.State = omnigate.StateClosed
			if err := tx.UpdateConversation(latest); err != nil {
				return res, nil, err
			}
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

	m := omnigate.Message{ID: NewID("msg"), ConversationID: conv.ID, Direction: omnigate.Outbound, Channel: k.Channel,
		QueueID: req.queue.ID, From: k.Address, To: k.ContactAddress, Text: req.text, Template: req.template,
		Media: req.media, Sender: req.sender, PrincipalID: req.principal.ID, Tag: d.Tag,
		Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now}
	if outcome == OutcomeNew {
		err = tx.InsertConversation(conv)
	} else {
		err = tx.UpdateConversation(conv)
	}
	if err != nil {
		return res, nil, err
	}
	if err := tx.InsertMessage(m); err != nil {
		return res, nil, err
	}
	if err := tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: conv.ID, MessageID: m.ID, DueAt: now}); err != nil {
		return res, nil, err
	}
	if change != "" {
		if err := s.event(tx, events.TypeConversationUpdated, conv.ID, events.Conversation(conv, change), now); err != nil {
			return res, nil, err
		}
	}
	res.MessageID, res.ConversationID, res.Status = m.ID, conv.ID, string(m.Status)
	return res, &m, nil
}

// event writes a platform event in tx when events are on.
func (s *Service) event(tx store.Tx, typ, conversationID string, data any, now time.Time) error {
	if !s.cfg.Events {
		return nil
	}
	e, err := events.Entry(typ, conversationID, data, now)
	if err != nil {
		return err
	}
	return tx.Enqueue(e)
}
