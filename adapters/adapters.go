// Package adapters defines what every carrier adapter does (send, parse webhooks), the
// optional abilities some have (GET handshakes, typing indicators, carrier-specific
// acknowledgements), the send-error taxonomy the relay acts on, and an explicit registry
// that main fills. Adapters know their carrier and these types, never the store.
package adapters

import (
	"context"
	"maps"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/omnigate/omnigate"
)

// Outbound is one message handed to a carrier.
type Outbound struct {
	MessageID string // our message id; carriers that accept a callback URL get it back
	Channel   omnigate.Channel
	From      string // our address: the queue's number, page id, account id, integration id
	To        string // the contact's address
	Text      string
	Template  *omnigate.Template
	Media     []omnigate.Media
	// Tag is the carrier tag the policy decided, e.g. "HUMAN_AGENT" for Meta's
	// MESSAGE_TAG sends beyond the 24h window. Empty means a plain response.
	Tag string
	// StatusCallback, when set, is the absolute URL a carrier that supports
	// per-message callbacks (Twilio) should post statuses to. Empty: the adapter
	// builds its own from its public URL and MessageID.
	StatusCallback string
}

// Receipt is what a carrier answered to an accepted send.
type Receipt struct {
	ProviderMessageID string
	// Status is the status the message reaches on acceptance: usually sent.
	Status omnigate.MessageStatus
}

// Adapter is a carrier account: it sends messages and reads that carrier's webhooks.
type Adapter interface {
	// Provider names the carrier: "twilio", "meta", "x", "open".
	Provider() string
	// Account identifies the credentials in use (no secret), e.g. "twilio:AC123"; the
	// relay keeps one circuit breaker per account.
	Account() string
	// Send hands m to the carrier. It returns *RetryableError, *PermanentError, or a
	// context error; a failure is never returned as a nil error.
	Send(ctx context.Context, m Outbound) (Receipt, error)
	// ParseWebhook verifies the request's signature over the raw body and returns the
	// events it carries. Errors: ErrBadSignature, ErrMalformed (wrapped with detail).
	ParseWebhook(r *http.Request, body []byte) ([]Event, error)
}

// Challenger is an adapter whose carrier verifies the webhook with a GET handshake
// (Meta's hub.challenge, X's CRC). It writes the whole response.
type Challenger interface {
	Challenge(w http.ResponseWriter, r *http.Request)
}

// Acknowledger is an adapter whose carrier expects a particular success body (Twilio's
// empty TwiML). It is called only after the events are durably committed.
type Acknowledger interface {
	Acknowledge(w http.ResponseWriter, r *http.Request)
}

// Typer is an adapter that can show an outbound typing indicator.
type Typer interface {
	// Typing shows (on) or clears the indicator from our address to the contact.
	Typing(ctx context.Context, ch omnigate.Channel, from, to string, on bool) error
}

// EventKind is what a webhook event reports.
type EventKind string

// Event kinds.
const (
	// EventMessage is a message from a contact.
	EventMessage EventKind = "message"
	// EventEcho is a message our own account sent, reported back (Meta echoes, X's own
	// DMs). It is recorded as outbound when not already known, never as inbound.
	EventEcho EventKind = "echo"
	// EventStatus is a delivery status for one of our outbound messages, named by
	// ProviderMessageID or MessageID, or for all of them up to Watermark.
	EventStatus EventKind = "status"
	// EventUnsend is a contact deleting a message they sent (Instagram is_deleted).
	EventUnsend EventKind = "unsend"
	// EventTyping is a contact typing.
	EventTyping EventKind = "typing"
)

// Event is one thing a carrier reported in a webhook.
type Event struct {
	Kind    EventKind
	Channel omnigate.Channel
	// ProviderMessageID is the carrier's id of the message the event is about: the
	// inbound message (also the dedupe key), the echoed one, or the outbound one a
	// status concerns.
	ProviderMessageID string
	// MessageID is our message id when the carrier hands it back (Twilio status
	// callback URL, open-messaging receipts).
	MessageID      string
	Address        string // ours: the queue address the event concerns
	ContactAddress string
	ContactName    string // from the carrier's profile; empty when it has none
	// ContactUserID is the carrier's other id for the contact when ContactAddress is a
	// phone number (a WhatsApp business-scoped user id), so that the contact is known
	// by either; empty otherwise.
	ContactUserID string
	Text          string
	Media         []omnigate.Media
	// Ephemeral media (Instagram story mentions) is passed to the platform in the live
	// event and never persisted.
	Ephemeral    bool
	StoryMention bool
	Status       omnigate.MessageStatus
	ErrorCode    string
	ErrorMessage string
	// Watermark, when set on a status event, applies Status to every outbound message
	// of the conversation sent at or before it (Messenger deliveries and reads).
	Watermark time.Time
	Timestamp time.Time
	Typing    bool // for EventTyping: on or off
}

// Registry maps channels to the adapter that carries each. main fills it with Register
// before sharing it; afterwards Replace swaps in a whole new set of adapters at once
// (a reload that rotated a carrier's credentials). For is safe to call concurrently with
// Replace: every caller sees either the old set or the new one, never a mix, and an
// attempt that already holds an adapter finishes with it.
type Registry struct {
	byChannel atomic.Pointer[map[omnigate.Channel]Adapter]
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.byChannel.Store(&map[omnigate.Channel]Adapter{})
	return r
}

// Register makes a carry ch. A later registration for the same channel replaces it.
// Register is for filling a registry before it is shared; use Replace afterwards.
func (r *Registry) Register(ch omnigate.Channel, a Adapter) {
	m := maps.Clone(*r.byChannel.Load())
	m[ch] = a
	r.byChannel.Store(&m)
}

// Replace makes r carry exactly what next carries, atomically. next is not changed and
// may be discarded.
func (r *Registry) Replace(next *Registry) { r.byChannel.Store(next.byChannel.Load()) }

// For returns the adapter carrying ch.
func (r *Registry) For(ch omnigate.Channel) (Adapter, bool) {
	a, ok := (*r.byChannel.Load())[ch]
	return a, ok
}

// Provider returns the adapter of the named carrier ("twilio", "meta", ...) that carries
// at least one channel, for the carrier's webhooks.
func (r *Registry) Provider(name string) (Adapter, bool) {
	m := *r.byChannel.Load()
	for _, ch := range omnigate.AllChannels() {
		if a, ok := m[ch]; ok && a.Provider() == name {
			return a, true
		}
	}
	return nil, false
}
