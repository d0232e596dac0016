// Package omnigate holds the domain types every layer of omnigate shares: channels,
// queues, principals, contacts, conversations and messages. It imports nothing of ours,
// so policy, adapters, the store and the API can all speak it without depending on each
// other.
package omnigate

import (
	"slices"
	"time"
)

// Channel is a messaging channel a queue can send on.
type Channel string

// The channels omnigate carries.
const (
	SMS       Channel = "sms"
	WhatsApp  Channel = "whatsapp"
	Messenger Channel = "messenger"
	Instagram Channel = "instagram"
	X         Channel = "x"
	Open      Channel = "open"
)

// AllChannels returns every channel, in a stable order.
func AllChannels() []Channel {
	return []Channel{SMS, WhatsApp, Messenger, Instagram, X, Open}
}

// Valid reports whether c is one of the channels omnigate carries.
func (c Channel) Valid() bool { return slices.Contains(AllChannels(), c) }

// UsesPhoneNumbers reports whether addresses on c are E.164 phone numbers.
func (c Channel) UsesPhoneNumbers() bool { return c == SMS || c == WhatsApp }

// Direction says which way a message travels.
type Direction string

// Message directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Sender says who wrote an outbound message; Meta's human-agent tag is for humans only.
type Sender string

// Senders.
const (
	Human     Sender = "human"
	Automated Sender = "automated"
)

// Permissions a principal may hold (the seed articles' names).
const (
	PermSend   = "conversation:message:create"
	PermQueues = "routing:queue:view"
	PermAssign = "routing:conversation:assign"
	PermAdmin  = "admin"
)

// Queue is a contact-center queue and the addresses it sends from, one per channel.
type Queue struct {
	ID        string
	Name      string
	Addresses map[Channel]string
}

// Address returns the queue's outbound address on ch, or "" when it has none.
func (q Queue) Address(ch Channel) string { return q.Addresses[ch] }

// Principal is whoever holds an API key: an agent or a service.
type Principal struct {
	ID           string
	Permissions  []string
	Queues       []string // queue ids; "*" means every queue
	DefaultQueue string
}

// Can reports whether p holds perm.
func (p Principal) Can(perm string) bool { return slices.Contains(p.Permissions, perm) }

// MemberOf reports whether p belongs to the queue with id queueID.
func (p Principal) MemberOf(queueID string) bool {
	return slices.Contains(p.Queues, "*") || slices.Contains(p.Queues, queueID)
}

// ConversationState is where a conversation stands in the contact-center lifecycle.
type ConversationState string

// Conversation states.
const (
	StateQueued   ConversationState = "queued"
	StateAssigned ConversationState = "assigned"
	StateOpen     ConversationState = "open"
	StateWrapup   ConversationState = "wrapup"
	StateClosed   ConversationState = "closed"
)

// Contact is an external party on one channel.
type Contact struct {
	Channel Channel
	Address string // E.164, page-scoped id, X user id, open id
	Name    string
	// OptedOut lists our sending addresses this contact opted out of (SMS STOP).
	OptedOut  []string
	UpdatedAt time.Time
}

// Conversation is one thread between a queue address and a contact on one channel.
type Conversation struct {
	ID                  string
	Channel             Channel
	QueueID             string
	Address             string // ours: the queue's address on Channel
	ContactAddress      string
	ContactName         string
	State               ConversationState
	AssignedTo          string
	OpenedAt            time.Time
	LastInboundAt       time.Time // zero when the contact never wrote
	LastActivityAt      time.Time
	RepliesSinceInbound int
	WrapupCode          string
	WrapupNotes         string
}

// MessageStatus is a message's delivery status.
type MessageStatus string

// Message statuses.
const (
	StatusReceived  MessageStatus = "received" // inbound messages
	StatusQueued    MessageStatus = "queued"
	StatusSending   MessageStatus = "sending"
	StatusSent      MessageStatus = "sent"
	StatusDelivered MessageStatus = "delivered"
	StatusRead      MessageStatus = "read"
	StatusFailed    MessageStatus = "failed"
	StatusCanceled  MessageStatus = "canceled"
)

// Rank orders statuses along the delivery path so that a late, out-of-order receipt
// never moves a message backwards. Failed and canceled are final and rank highest.
func (s MessageStatus) Rank() int {
	switch s {
	case StatusQueued:
		return 1
	case StatusSending:
		return 2
	case StatusSent:
		return 3
	case StatusDelivered:
		return 4
	case StatusRead:
		return 5
	case StatusFailed, StatusCanceled:
		return 6
	}
	return 0
}

// Final reports whether no further delivery attempt will be made for s.
func (s MessageStatus) Final() bool {
	return s == StatusFailed || s == StatusCanceled
}

// Template is a pre-approved message template (WhatsApp) with its variables.
type Template struct {
	Name      string            `json:"name"`
	Language  string            `json:"language"`
	Variables map[string]string `json:"variables,omitempty"`
}

// Media is an attachment by URL. Inbound attachments are omnigate URLs
// (/v1/media/{id}) that stream the bytes from the carrier; ID is that media id.
type Media struct {
	ID          string `json:"id,omitempty"`
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	// Ephemeral media (an Instagram story mention) is served only until it expires and
	// is never kept: after a restart it is unavailable.
	Ephemeral bool `json:"ephemeral,omitempty"`
}

// Message is one message in a conversation, either direction.
type Message struct {
	ID                string
	ConversationID    string
	Direction         Direction
	Channel           Channel
	QueueID           string
	From              string
	To                string
	Text              string
	Template          *Template
	Media             []Media
	Sender            Sender
	PrincipalID       string // who sent it, for outbound
	Tag               string // carrier tag the policy decided, e.g. HUMAN_AGENT
	Status            MessageStatus
	Attempts          int
	ProviderMessageID string
	ErrorCode         string
	ErrorMessage      string
	Deleted           bool // unsent by the contact: text removed from history
	// Redacted: erased by retention or on request; text, media and template variables
	// are gone, the message remains as a tombstone.
	Redacted  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}
