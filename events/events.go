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
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
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

// Sign returns the X-Omnigate-Signature value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret (constant time).
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// Sink posts events to the platform.
type Sink struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// Post delivers one event body. It returns *adapters.RetryableError for network
// errors, 429 and 5xx, and *adapters.PermanentError for other refusals.
func (s *Sink) Post(ctx context.Context, body []byte) error {
	var ev struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return adapters.Permanent("bad_url", "events url", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Omnigate-Signature", Sign(s.Secret, body))
	req.Header.Set("X-Omnigate-Event-Id", ev.ID)
	resp, err := s.Client.Do(req)
	if err != nil {
		return adapters.Retryable("", "events: post failed", 0, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return adapters.Retryable(strconv.Itoa(resp.StatusCode), "events: platform busy", time.Duration(ra)*time.Second, nil)
	default:
		return adapters.Permanent(strconv.Itoa(resp.StatusCode), "events: platform refused the event", nil)
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
