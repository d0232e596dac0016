package store

import (
	"time"

	"github.com/omnigate/omnigate"
)

// MediaRef is an inbound attachment as omnigate serves it (GET /v1/media/{id}): where
// the carrier keeps the bytes, never the bytes.
type MediaRef struct {
	ID             string
	ConversationID string
	MessageID      string
	Channel        omnigate.Channel
	// Address is ours (the queue address the message came to): it picks the
	// credentials the bytes are fetched with.
	Address string
	// Locator is the carrier's URL or media id. It is empty for ephemeral media, whose
	// link is never stored.
	Locator     string
	ContentType string
	// Ephemeral media (Instagram story mentions) is served from memory until ExpiresAt.
	Ephemeral bool
	ExpiresAt time.Time
	CreatedAt time.Time
}
