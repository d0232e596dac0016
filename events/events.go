// Package events builds the platform events omnigate pushes to events.url (inbound
// messages, status changes, conversation changes, typing) and posts them, signed, for the
// relay. Events are written to the outbox in the same transaction as the change they
// describe, so an event exists exactly when its change committed.
package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"github.com/omnigate/omnigate/store"
)

// Event types.
const (
	TypeMessageInbound      = "message.inbound"
	TypeMessageOutbound     = "message.outbound" // an echo of a message sent outside omnigate
	TypeMessageStatus       = "message.status"
	TypeMessageDeleted      = "message.deleted"
	TypeConversationUpdated = "conversation.updated"
	TypeTyping              = "typing"
)

// Event is the JSON body posted to the platform.
type Event struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	CreatedAt      time.Time `json:"created_at"`
	ConversationID string    `json:"conversation_id"`
	Data           any       `json:"data"`
}

// NewID returns a fresh event id.
func NewID() string {
	var b [10]byte
	rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Entry builds the outbox row for an event about conversationID. Events of one
// conversation share a FIFO key, so they arrive in order.
func Entry(typ, conversationID string, data any, now time.Time) (store.NewEntry, error) {
	body, err := json.Marshal(Event{ID: NewID(), Type: typ, CreatedAt: now.UTC(), ConversationID: conversationID, Data: data})
	if err != nil {
		return store.NewEntry{}, fmt.Errorf("events: %w", err)
	}
	return store.NewEntry{Kind: store.KindEvent, FIFOKey: "ev:" + conversationID, Payload: body, DueAt: now}, nil
}

// SignatureHeader carries an event's signature: "t=<unix seconds>,v1=<hex>", where the
// hex is the HMAC-SHA256, under events.secret, of the timestamp, a ".", and the raw
// body. The timestamp is signed with the body, so a captured event cannot be replayed
// once the receiver's tolerance has passed.
const SignatureHeader = "X-Omnigate-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock
// (either way) for Verify to accept it.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns.
var (
	ErrNoSignature  = errors.New("events: signature header missing or malformed")
	ErrBadSignature = errors.New("events: no v1 signature matches the body")
	ErrStale        = errors.New("events: signature timestamp outside the tolerance")
)

// Sign returns the X-Omnigate-Signature value for body sent at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (an X-Omnigate-Signature value) against body: one of its v1
// values must be the HMAC of its timestamp and the body under secret (compared in
// constant time), and the timestamp must be within tolerance of now (DefaultTolerance
// when tolerance is 0). It returns ErrNoSignature, ErrBadSignature or ErrStale. The
// platform should also drop an event whose id (X-Omnigate-Event-Id, or each event's
// "id" in a batch) it has already processed: within the tolerance a retry of the same
// event is legitimate.
func Verify(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	match := 0
	for _, s := range sigs {
		match |= subtle.ConstantTimeCompare(s, want)
	}
	if match != 1 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// Sink posts events to the platform.
type Sink struct {
	URL    string
	Secret []byte
	Client *http.Client
	// Now stamps each post's signature; time.Now when nil. Every attempt is signed
	// afresh, so a retry hours later still verifies.
	Now func() time.Time
	// Prepare, when set, may rewrite an event body just before each post (marking
	// ephemeral media that is no longer held as unavailable); the post is signed over
	// what it returns.
	Prepare func(body []byte) []byte
	// Batch (events.batch) is the most events one post may carry. At 1 or less every
	// event is posted alone as its own JSON object with X-Omnigate-Event-Id. Above 1
	// every post is a batch, {"events":[...]} with X-Omnigate-Event-Count (see
	// batch.go), even when it holds one event.
	Batch int

	batchOnce sync.Once
	queue     *batchQueue
}

// EventIDHeader names the one event of an unbatched post.
const EventIDHeader = "X-Omnigate-Event-Id"

// Post delivers one event body. It returns *adapters.RetryableError for network
// errors, 429 and 5xx, and *adapters.PermanentError for other refusals. With Batch
// above 1 the body travels in a batch with the events posted beside it, and the
// batch's outcome is the event's.
func (s *Sink) Post(ctx context.Context, body []byte) error {
	if s.Batch > 1 {
		return s.postBatched(ctx, body)
	}
	var ev struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &ev)
	if s.Prepare != nil {
		body = s.Prepare(body)
	}
	return s.send(ctx, body, func(h http.Header) { h.Set(EventIDHeader, ev.ID) }, "event")
}

// send posts body signed and classifies the answer; header adds the headers that
// name what the body holds, what ("event" or "events") words the refusal.
func (s *Sink) send(ctx context.Context, body []byte, header func(http.Header), what string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return adapters.Permanent("bad_url", "events url", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", omnigate.UserAgent())
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req.Header.Set(SignatureHeader, Sign(s.Secret, body, now()))
	header(req.Header)
	resp, err := s.Client.Do(req)
	if err != nil {
		return adapters.Retryable("", "events: post failed", 0, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		wait, _ := carrierhttp.RetryAfter(resp.Header, now())
		return adapters.Retryable(strconv.Itoa(resp.StatusCode), "events: platform busy", wait, nil)
	default:
		// The platform's own answer says what to fix (a rotated secret, a wrong URL);
		// it is kept with the dead letter.
		msg := "events: platform refused the " + what
		if a := strings.TrimSpace(strings.ToValidUTF8(string(answer), "")); a != "" {
			msg += ": " + a
		}
		return adapters.Permanent(strconv.Itoa(resp.StatusCode), msg, nil)
	}
}

// MessageData is the event data describing a message.
type MessageData struct {
	ID                string                 `json:"id"`
	Direction         omnigate.Direction     `json:"direction"`
	Channel           omnigate.Channel       `json:"channel"`
	Queue             string                 `json:"queue"`
	From              string                 `json:"from"`
	To                string                 `json:"to"`
	Text              string                 `json:"text,omitempty"`
	Media             []omnigate.Media       `json:"media,omitempty"`
	ContactName       string                 `json:"contact_name,omitempty"`
	Status            omnigate.MessageStatus `json:"status"`
	ProviderMessageID string                 `json:"provider_message_id,omitempty"`
	Error             *ErrorData             `json:"error,omitempty"`
	StoryMention      bool                   `json:"story_mention,omitempty"`
	// MediaExpiresAt is set for ephemeral media (story mentions): the links are not
	// kept by omnigate and stop working at this time.
	MediaExpiresAt *time.Time `json:"media_expires_at,omitempty"`
}

// ErrorData is a message's error.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Message describes m for an event.
func Message(m omnigate.Message) MessageData {
	d := MessageData{ID: m.ID, Direction: m.Direction, Channel: m.Channel, Queue: m.QueueID, From: m.From, To: m.To,
		Text: m.Text, Media: m.Media, Status: m.Status, ProviderMessageID: m.ProviderMessageID}
	if m.ErrorCode != "" || m.ErrorMessage != "" {
		d.Error = &ErrorData{Code: m.ErrorCode, Message: m.ErrorMessage}
	}
	return d
}

// ConversationData is the event data describing a conversation.
type ConversationData struct {
	ID          string                     `json:"id"`
	Channel     omnigate.Channel           `json:"channel"`
	Queue       string                     `json:"queue"`
	Address     string                     `json:"address"`
	Contact     string                     `json:"contact"`
	State       omnigate.ConversationState `json:"state"`
	AssignedTo  string                     `json:"assigned_to,omitempty"`
	Change      string                     `json:"change"` // opened, assigned, transferred, disconnected, wrapped_up, taken_over
	WrapupCode  string                     `json:"wrapup_code,omitempty"`
	WrapupNotes string                     `json:"wrapup_notes,omitempty"`
}

// Conversation describes c for an event.
func Conversation(c omnigate.Conversation, change string) ConversationData {
	return ConversationData{ID: c.ID, Channel: c.Channel, Queue: c.QueueID, Address: c.Address, Contact: c.ContactAddress,
		State: c.State, AssignedTo: c.AssignedTo, Change: change, WrapupCode: c.WrapupCode, WrapupNotes: c.WrapupNotes}
}
