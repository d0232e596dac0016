package events

import (
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// TypeContactErased reports that a contact's name and content were erased; the
// platform should erase its own copies.
const TypeContactErased = "contact.erased"

// ErasureData is the data of a contact.erased event.
type ErasureData struct {
	Channel omnigate.Channel `json:"channel"`
	Contact string           `json:"contact"`
	// Conversations lists the contact's conversations, whose messages are now
	// tombstones (text, media and template variables gone).
	Conversations []string `json:"conversations"`
	Messages      int      `json:"messages"`
	// Canceled lists queued outbound messages canceled before they were sent.
	Canceled []string  `json:"canceled"`
	ErasedAt time.Time `json:"erased_at"`
}

// ErasureEntry builds the outbox row of a contact.erased event. It names no single
// conversation, so it is ordered on its own key, one per contact.
func ErasureEntry(ch omnigate.Channel, contact string, e store.Erasure, now time.Time) (store.NewEntry, error) {
	d := ErasureData{Channel: ch, Contact: contact, Conversations: e.Conversations, Messages: e.Messages,
		Canceled: e.Canceled, ErasedAt: now.UTC()}
	if d.Conversations == nil {
		d.Conversations = []string{}
	}
	if d.Canceled == nil {
		d.Canceled = []string{}
	}
	entry, err := Entry(TypeContactErased, "", d, now)
	entry.FIFOKey = "ev:contact:" + string(ch) + ":" + contact
	return entry, err
}
