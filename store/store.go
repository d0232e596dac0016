// Package store is omnigate's durable state: contacts, conversations, messages, the
// transactional outbox, idempotency keys and inbound dedupe keys. The Store interface is
// what the rest of omnigate uses; sqlstore implements it on SQLite and PostgreSQL, and
// storetest is the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/omnigate/omnigate"
)

// Errors the store returns.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the outbox row's lease expired and another worker holds it now, or
	// the row is gone; the caller's result was not applied.
	ErrLeaseLost = errors.New("outbox lease lost")
)

// Entry kinds in the outbox.
const (
	KindDeliver = "deliver" // an outbound message to a carrier
	KindEvent   = "event"   // a platform event to events.url
)

// Outbox row statuses.
const (
	OutboxPending = "pending"
	OutboxDead    = "dead"
)

// NewEntry is an outbox row to insert.
type NewEntry struct {
	Kind string
	// FIFOKey orders rows: a row is claimed only when every earlier pending row with
	// the same key is done or dead. Conversation id for deliveries, "ev:"+conversation
	// id for events.
	FIFOKey   string
	MessageID string // for KindDeliver
	Payload   []byte // for KindEvent: the event JSON
	DueAt     time.Time
}

// The event log. Tx.Enqueue and Tx.Write append KindEvent entries to an append-only
// log instead of the outbox: an event is written once and deleted once it was posted,
// with no lease, claim or result per row. One instance at a time holds the log's
// dispatch lease (LeaseEvents) and posts the oldest events (ReadEvents) in log order,
// which for events of transactions that share a lock taken before their first write (a
// conversation's sends and inbound messages, a message's result and receipts) is the
// order they committed. An event that could not be posted moves to the outbox
// (FinishEvents' Spill), where retries, backoff and dead letters work as for any row,
// and the later events of its key follow it there while it is pending (Behind).

// LoggedEvent is a platform event waiting in the event log.
type LoggedEvent struct {
	Seq       int64 // ascending in the order the events were appended
	FIFOKey   string
	Payload   []byte
	CreatedAt time.Time
}

// EventBatch is the oldest events of the log.
type EventBatch struct {
	Events []LoggedEvent
	// Behind holds the FIFO keys of Events that have pending rows in the outbox: their
	// events must go after those rows, through the outbox.
	Behind map[string]bool
}

// EventLease asks for the event log's dispatch lease.
type EventLease struct {
	Owner string
	Now   time.Time // wall clock
	Until time.Time
}

// EventsDone is what a dispatcher did with a batch of the log.
type EventsDone struct {
	Owner string
	// LeaseUntil extends the dispatch lease.
	LeaseUntil time.Time
	// Done lists the events posted: they leave the log.
	Done []int64
	// Spill lists events that move to the outbox, in log order.
	Spill []SpilledEvent
}

// SpilledEvent is an event of the log moving to the outbox as Entry (due at
// Entry.DueAt), with the outcome of the attempt that failed, if one did: Attempts (0 or
// 1) and its Error; Dead makes it a dead letter at once (the platform refused it).
type SpilledEvent struct {
	Seq      int64
	Entry    NewEntry
	Attempts int
	Error    string
	Dead     bool
	// CreatedAt is when the event was written (zero: Entry.DueAt).
	CreatedAt time.Time
}

// Entry is a claimed outbox row with what the relay needs to act on it.
type Entry struct {
	ID         int64
	Kind       string
	FIFOKey    string
	MessageID  string
	Payload    []byte
	Attempts   int // including the attempt this claim is for
	LeaseToken string
	// LeaseUntil is when the lease ends unless the owner extends it (Heartbeat).
	LeaseUntil time.Time
	CreatedAt  time.Time
	// For KindDeliver: the message and the facts of its conversation at claim time.
	Message      *omnigate.Message
	Conversation *omnigate.Conversation
}

// Claim asks for due outbox rows.
type Claim struct {
	Owner string
	// Now is the business clock: rows whose due time is at or before it are due.
	Now time.Time
	// LeaseNow is the wall clock leases are measured with: a lease that ended at or
	// before it is free, and the new lease runs until LeaseNow+Lease. Zero: Now.
	LeaseNow time.Time
	Lease    time.Duration
	Limit    int
	// Exclude lists rows the owner has in flight: never claimed again by it, even when
	// their lease ran out (its next heartbeat extends them again).
	Exclude []int64
	// Pace returns the pacing of an outbound message's sender: a key naming the sender
	// and the least interval between two of its deliveries (0: not paced). A paced row
	// that has no slot yet is given the sender's next free slot as its due time, inside
	// the claim's transaction, and is returned only when that slot is now; slots are
	// kept in the database, so the spacing holds across every instance. A row claimed
	// more than one interval after its slot (the relay fell behind) takes a new slot
	// rather than go out in a burst. nil: no pacing.
	Pace func(m omnigate.Message) (key string, interval time.Duration)
}

// Claimed is what a claim took.
type Claimed struct {
	// Entries are the rows to attempt now, oldest first.
	Entries []Entry
	// Rows counts every row the claim took, including paced rows it rescheduled to
	// their slot. Rows below the limit means nothing more was due.
	Rows int
}

// Heartbeat reports that a relay instance is alive.
type Heartbeat struct {
	Owner string
	Now   time.Time // wall clock
	// Extend lists the owner's rows in flight: their leases run on to LeaseUntil.
	Extend     []int64
	LeaseUntil time.Time
	// DeadBefore: instances whose last heartbeat is older are taken for dead, and
	// their leases are released so that others may claim the rows at once.
	DeadBefore time.Time
}

// HeartbeatResult is what a heartbeat found.
type HeartbeatResult struct {
	// Known is false when the owner had no live registration: it is new, or others
	// took it for dead and released its leases (every lease it held is lost).
	Known bool
	// Extended lists the rows of Extend whose lease the owner still held and extended.
	Extended []int64
	// Reaped counts leases of dead instances released.
	Reaped int
}

// Receipt is a carrier's report on one of our outbound messages.
type Receipt struct {
	Channel omnigate.Channel
	// MessageID is ours, when the carrier echoes it (the status-callback URL).
	MessageID         string
	ProviderMessageID string
	Status            omnigate.MessageStatus
	ErrorCode         string
	ErrorMessage      string
}

// ReceiptOutcome is what a receipt did.
type ReceiptOutcome struct {
	// Message is the message the receipt names, as it stands after the receipt.
	Message omnigate.Message
	// Changed reports whether the receipt moved the message's status.
	Changed bool
	// Held reports that no message carries the carrier's id yet: the receipt was kept
	// and is applied when the relay records that id.
	Held bool
	// Unknown reports that the receipt names nothing omnigate can find or hold.
	Unknown bool
}

// Prune bounds what grows forever. Rows older than each cut-off are deleted, at most
// Limit rows of each kind per call.
type Prune struct {
	InboundSeenBefore time.Time // carriers' message ids kept for dedupe
	IdempotencyBefore time.Time // Idempotency-Key records
	ReceiptsBefore    time.Time // held receipts no message ever claimed
	// BodiesBefore: messages created before it lose their text, media references and
	// template variables and become tombstones (Message.Redacted); zero keeps them.
	BodiesBefore time.Time
	// ConversationsBefore: conversations whose last activity is before it are deleted
	// with their messages, unless the outbox still holds a row of one of them.
	ConversationsBefore time.Time
	// Now stamps the tombstones' update time; zero: the wall clock.
	Now   time.Time
	Limit int
}

// Outcome is what became of one attempt.
type Outcome int

// Outcomes.
const (
	Done  Outcome = iota // delivered to the carrier or the platform; the row is removed
	Retry                // try again at RetryAt
	Dead                 // no more attempts: the row becomes a dead letter
)

// Result reports one attempt back to the store. It is applied only while the lease
// token still holds.
type Result struct {
	EntryID int64
	Token   string
	Outcome Outcome
	RetryAt time.Time // for Retry
	// NoAttempt gives the attempt back (for Retry): the row waited on an open circuit
	// breaker, or was never started, and never reached a carrier.
	NoAttempt bool
	Error     string // last error, for Retry and Dead
	// Message update for KindDeliver rows (ignored when MessageID is empty). The relay
	// only moves a message that is still queued or sending: a carrier's receipt that
	// got there first wins. Status queued puts a sending message back for a retry; an
	// empty Status leaves the status alone.
	MessageID         string
	Channel           omnigate.Channel
	Status            omnigate.MessageStatus
	ProviderMessageID string
	ErrorCode         string
	ErrorMessage      string
	// Events are enqueued in the same transaction when Status changed the message
	// (the status event for the platform).
	Events []NewEntry
	// ReceiptEvent builds the platform event for a held receipt (one that overtook this
	// result) applied with it; nil, or an entry with an empty Kind: none.
	ReceiptEvent func(status omnigate.MessageStatus, errCode, errMsg string) (NewEntry, error)
	// Applied, when set, is called in Complete's transaction when Status really moved
	// the message (a receipt that got there first leaves it where it is). A failed
	// Complete is tried afresh, so a caller resets what Applied recorded.
	Applied func()
}

// OutboxRow is an outbox row as operators see it.
type OutboxRow struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	MessageID string    `json:"message_id,omitempty"`
	FIFOKey   string    `json:"fifo_key"`
	Attempts  int       `json:"attempts"`
	DueAt     time.Time `json:"due_at"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// OutboxStats is the outbox's depth, for metrics.
type OutboxStats struct {
	Pending      int
	Dead         int
	OldestDueAge time.Duration // age of the oldest due pending row, 0 if none
}

// Idempotency is a stored Idempotency-Key record.
type Idempotency struct {
	BodyHash string
	Done     bool // false while the first request is still being processed
	Code     int
	Response []byte
}

// ConversationKey names the thread between one of our addresses and one contact.
type ConversationKey struct {
	Channel        omnigate.Channel
	Address        string // ours
	ContactAddress string
}

// QueueStat counts a queue's outbound messages on one channel by status.
type QueueStat struct {
	Channel omnigate.Channel `json:"channel"`
	Counts  map[string]int   `json:"counts"` // by message status
}

// ContactQuery finds contacts (Store.Contacts).
type ContactQuery struct {
	Channel omnigate.Channel // all channels when empty
	// Prefix is the start of the contact's name (case-insensitive) or address.
	Prefix string
	// After is the cursor: channel+"|"+address of the last contact of the previous page.
	After string
	// Queues, when non-nil, finds only contacts with a conversation in one of these
	// queues (none when it is empty); nil finds contacts of every queue.
	Queues []string
	Limit  int
}

// OptOut records that a contact opted out of one of our sending addresses (SMS STOP),
// or back in (START).
type OptOut struct {
	Channel        omnigate.Channel
	ContactAddress string
	OurAddress     string
	OptedOut       bool
	Now            time.Time
}

// StatusUpdate moves a message's status forward (Tx.SetMessageStatus).
type StatusUpdate struct {
	MessageID    string
	Status       omnigate.MessageStatus
	ErrorCode    string // kept with the status when set, with ErrorMessage
	ErrorMessage string
	Now          time.Time
}

// IdempotencyBegin claims an Idempotency-Key for a principal (Tx.BeginIdempotency).
type IdempotencyBegin struct {
	PrincipalID string
	Key         string
	BodyHash    string
	Now         time.Time
	// Expired: a record created before it is taken over, done or not.
	Expired time.Time
	// Stale: a pending record created before it is taken over (its first request
	// died mid-way).
	Stale time.Time
}

// Writes are a decision's blind writes, for Tx.Write: nothing in them depends on what
// another of them returns.
type Writes struct {
	Now      time.Time // the contacts' updated_at
	Contacts []omnigate.Contact
	Updated  []omnigate.Conversation
	Inserted []omnigate.Conversation
	Messages []omnigate.Message
	Entries  []NewEntry
}

// Tx is one write transaction. Its methods are only valid inside the Update call that
// handed it out. Any method may also return the database's own error (the transaction
// then rolls back); the errors listed are those a caller acts on.
type Tx interface {
	// LockKey serialises transactions on the same conversation key (PostgreSQL takes a
	// transaction-scoped advisory lock; SQLite's write transactions are already serial).
	// Errors: only the database's.
	LockKey(k ConversationKey) error

	// Recipient reads what a send to k decides on, in one statement: the contact with
	// its opt-outs (ContactKnown false and a zero Contact when there is no contact row;
	// its opt-outs are read all the same) and k's latest conversation (HasLatest false
	// when there is none). Errors: only the database's.
	Recipient(k ConversationKey) (Recipient, error)
	// Contact returns the contact on ch at address. Errors: ErrNotFound.
	Contact(ch omnigate.Channel, address string) (omnigate.Contact, error)
	// UpsertContact records the contact (a non-empty name replaces the stored one) and
	// returns it as stored, without its opt-outs (Contact and Recipient read those): one
	// statement where a write followed by a read would take two. Errors: only the
	// database's.
	UpsertContact(c omnigate.Contact, now time.Time) (omnigate.Contact, error)
	// SetOptOut records o; opting out twice, or in without having opted out, is a
	// no-op. Errors: only the database's.
	SetOptOut(o OptOut) error
	// AliasContact records alias as another id of the contact at address on ch (a
	// WhatsApp business-scoped user id beside the phone number); a later call for the
	// same alias replaces the address. Errors: only the database's.
	AliasContact(ch omnigate.Channel, alias, address string, now time.Time) error
	// ContactByAlias returns the address alias stands for on ch. Errors: ErrNotFound.
	ContactByAlias(ch omnigate.Channel, alias string) (string, error)

	// LatestConversation returns the most recently active conversation for k.
	// Errors: ErrNotFound.
	LatestConversation(k ConversationKey) (omnigate.Conversation, error)
	// Conversation returns the conversation with id. Errors: ErrNotFound.
	Conversation(id string) (omnigate.Conversation, error)
	// InsertConversation stores a new conversation. Errors: only the database's
	// (a duplicate id among them).
	InsertConversation(c omnigate.Conversation) error
	// UpdateConversation stores c over the conversation with its id. Errors:
	// ErrNotFound.
	UpdateConversation(c omnigate.Conversation) error

	// InsertMessage stores a new message. Errors: only the database's (a duplicate id
	// among them).
	InsertMessage(m omnigate.Message) error
	// Message returns the message with id. Errors: ErrNotFound.
	Message(id string) (omnigate.Message, error)
	// MessageByProviderID returns the message a carrier knows by providerID on ch.
	// Errors: ErrNotFound.
	MessageByProviderID(ch omnigate.Channel, providerID string) (omnigate.Message, error)
	// SetMessageStatus moves the message forward to u.Status (never backwards, never
	// out of failed or canceled) and reports whether it changed. The check and the
	// write are one conditional statement, so concurrent receipts end on the highest
	// status. A message that does not exist is reported unchanged. Errors: only the
	// database's.
	SetMessageStatus(u StatusUpdate) (bool, error)
	// ApplyReceipt applies a carrier's receipt to the message it names (by our id, else
	// by the carrier's id), forward only. A receipt naming a carrier id that no message
	// carries yet is held and applied when the relay records that id (Complete); the
	// two serialise on the carrier id, so no interleaving leaves a held receipt behind.
	// A receipt naming our id and a carrier id our message lacks records that id (the
	// process died between the carrier's acceptance and our commit). What it did is in
	// the outcome (Unknown for a receipt naming nothing). Errors: only the database's.
	ApplyReceipt(r Receipt, now time.Time) (ReceiptOutcome, error)
	// MarkDeleted removes a message's text from history (an unsend). Errors: only the
	// database's.
	MarkDeleted(id string, now time.Time) error
	// OutboundBefore lists the conversation's outbound messages created at or before t
	// whose status ranks below status (watermark receipts). Errors: only the
	// database's.
	OutboundBefore(conversationID string, t time.Time, below omnigate.MessageStatus) ([]omnigate.Message, error)
	// CancelQueued cancels the conversation's outbound messages that no worker has
	// taken (status queued), removes their outbox rows, and returns their ids.
	// Errors: only the database's.
	CancelQueued(conversationID, principalID string, now time.Time) ([]string, error)

	// Enqueue inserts outbox rows, and appends KindEvent entries to the event log, each
	// in the order given (ids and sequence numbers ascend with it, so rows of one FIFO
	// key keep that order). Errors: only the database's.
	Enqueue(es ...NewEntry) error
	// Write stores what a decision wrote, as if by calling, in this order, UpsertContact
	// for each contact (at w.Now, its result unread), UpdateConversation for each of
	// w.Updated, InsertConversation for each of w.Inserted, InsertMessage for each
	// message and Enqueue(w.Entries...): on PostgreSQL in one statement, one round trip
	// where the calls took one each. Errors: ErrNotFound when a conversation to update
	// does not exist (the caller must then fail its transaction: other writes may have
	// been made); otherwise the database's.
	Write(w Writes) error
	// InsertMedia records an inbound attachment's reference. Errors: only the database's.
	InsertMedia(m MediaRef) error

	// SeenInbound records a carrier's message id and reports whether it was new.
	// Errors: only the database's.
	SeenInbound(provider, providerMessageID string, now time.Time) (bool, error)

	// Idempotency returns the record for (principal, key) created at or after since.
	// Errors: ErrNotFound.
	Idempotency(principalID, key string, since time.Time) (Idempotency, error)
	// BeginIdempotency stores a pending record and reports whether the caller owns the
	// key now. It takes over a record created before b.Expired (done or not), or a
	// pending one created before b.Stale. Errors: only the database's.
	BeginIdempotency(b IdempotencyBegin) (bool, error)
	// FinishIdempotency stores the answer of the key's request and marks it done.
	// Errors: only the database's.
	FinishIdempotency(principalID, key string, code int, response []byte) error
	// DropIdempotency forgets the key (its request failed before writing anything).
	// Errors: only the database's.
	DropIdempotency(principalID, key string) error

	// EraseContact removes a contact's name, the text, media references and template
	// variables of every message of its conversations (leaving tombstones, so counts
	// and threading hold), and wrap-up notes; queued outbound messages are canceled.
	// Opt-outs stay. ErrNotFound when the store knows nothing of the contact.
	EraseContact(ch omnigate.Channel, address string, now time.Time) (Erasure, error)
}

// Recipient is what Tx.Recipient reads.
type Recipient struct {
	Contact      omnigate.Contact
	ContactKnown bool
	Latest       omnigate.Conversation
	HasLatest    bool
}

// Store is omnigate's durable state. Any method may also return the database's own
// error or the context's; the errors listed are those a caller acts on.
type Store interface {
	// Update runs fn in one write transaction: all of fn's writes commit together or
	// none do. fn may be called again if the store must retry the transaction, so it
	// must not have side effects outside tx. Errors: fn's own, unchanged (and nothing
	// is written), or the database's.
	Update(ctx context.Context, fn func(Tx) error) error

	// Message returns the message with id. Errors: ErrNotFound.
	Message(ctx context.Context, id string) (omnigate.Message, error)
	// Conversation returns the conversation with id. Errors: ErrNotFound.
	Conversation(ctx context.Context, id string) (omnigate.Conversation, error)
	// Media returns an attachment's reference. Errors: ErrNotFound.
	Media(ctx context.Context, id string) (MediaRef, error)
	// ConversationMessages lists a conversation's messages, oldest first (none for an
	// unknown id). Errors: only the database's.
	ConversationMessages(ctx context.Context, id string) ([]omnigate.Message, error)
	// Conversations lists conversations with a contact, most recent first. Errors:
	// only the database's.
	Conversations(ctx context.Context, ch omnigate.Channel, contactAddress string, limit int) ([]omnigate.Conversation, error)
	// Contacts finds the contacts q names, ordered by channel and address. Errors:
	// only the database's.
	Contacts(ctx context.Context, q ContactQuery) ([]omnigate.Contact, error)
	// QueueStats counts the queue's outbound messages created since, by channel and
	// status. Errors: only the database's.
	QueueStats(ctx context.Context, queueID string, since time.Time) ([]QueueStat, error)

	// ClaimDue leases up to c.Limit due outbox rows to c.Owner. A row is due when its
	// due time has passed, no live lease holds it, and it heads its FIFO key. Paced rows
	// are scheduled to their sender's slot (see Claim.Pace). Errors: only the
	// database's (nothing is claimed).
	ClaimDue(ctx context.Context, c Claim) (Claimed, error)
	// Complete applies results in one transaction. The returned slice has one error per
	// result: nil, or ErrLeaseLost when that row's lease no longer holds. An error
	// return means nothing was applied; the caller may try again with the same results.
	Complete(ctx context.Context, results []Result, now time.Time) ([]error, error)
	// Heartbeat records that an instance is alive, extends its leases on the rows it
	// has in flight, and releases the leases of instances that stopped heartbeating.
	// Errors: only the database's.
	Heartbeat(ctx context.Context, hb Heartbeat) (HeartbeatResult, error)
	// Release gives back owner's leases and registration (shutdown) so another
	// instance may claim its rows at once. Errors: only the database's.
	Release(ctx context.Context, owner string) error
	// NextDue returns when the earliest claimable row falls due: the head of its FIFO
	// key, with no lease on it. ok is false when there is none. Errors: only the
	// database's.
	NextDue(ctx context.Context) (t time.Time, ok bool, err error)
	// Prune deletes expired dedupe keys, idempotency records and orphaned held
	// receipts, tombstones old message bodies and deletes old conversations and media
	// references (see Prune), in batches, and returns how many rows went. Errors: only
	// the database's.
	Prune(ctx context.Context, p Prune) (int, error)
	// Outbox lists rows with status after id, oldest first. Errors: only the
	// database's.
	Outbox(ctx context.Context, status string, after int64, limit int) ([]OutboxRow, error)
	// RetryDead makes a dead row pending again, due now, with its attempts reset.
	// Errors: ErrNotFound when id names no dead row.
	RetryDead(ctx context.Context, id int64, now time.Time) error
	// OutboxStats counts pending and dead rows and the age of the oldest due one; the
	// events waiting in the event log count as pending, due when written. Errors: only
	// the database's.
	OutboxStats(ctx context.Context, now time.Time) (OutboxStats, error)

	// ReplaceTemplates records the carrier's whole template catalogue for one of our
	// addresses, replacing what was stored, and when it was synced.
	ReplaceTemplates(ctx context.Context, ch omnigate.Channel, address string, ts []Template, now time.Time) error
	// Templates returns the stored catalogue of an address, ordered by name and
	// language; SyncedAt is zero when it was never synced.
	Templates(ctx context.Context, ch omnigate.Channel, address string) (TemplateSet, error)

	// LeaseEvents takes or extends the event log's dispatch lease for l.Owner until
	// l.Until. It is free when nobody holds it, its holder let it end, or its holder is
	// no live relay instance (see Heartbeat). ok reports whether l.Owner holds it now.
	// Errors: only the database's.
	LeaseEvents(ctx context.Context, l EventLease) (ok bool, err error)
	// ReadEvents returns up to limit of the oldest events of the log, in log order.
	// Errors: only the database's.
	ReadEvents(ctx context.Context, limit int) (EventBatch, error)
	// FinishEvents deletes d.Done and d.Spill from the log and enqueues the spilled
	// events in the outbox, in one transaction, if d.Owner still holds the dispatch
	// lease (extended to d.LeaseUntil). Errors: ErrLeaseLost when it does not
	// (nothing was applied), or the database's.
	FinishEvents(ctx context.Context, d EventsDone) error

	// Notify returns a channel that receives a value soon after a row is enqueued (by
	// this process, or by another instance sharing the database where supported).
	Notify() <-chan struct{}

	// Ping reports whether the database answers. Errors: the database's.
	Ping(ctx context.Context) error
	// MigrationsCurrent reports whether the schema is at the latest version. Errors:
	// only the database's.
	MigrationsCurrent(ctx context.Context) (bool, error)
	// Close releases the store's connections and goroutines. Errors: the database's.
	Close() error
}
