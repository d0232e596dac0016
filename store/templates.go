package store

import (
	"time"

	"github.com/omnigate/omnigate"
)

// Template is a message template as the carrier approved it for one of our addresses.
type Template struct {
	Name     string
	Language string
	// Category is the carrier's (MARKETING, UTILITY, AUTHENTICATION), upper case.
	Category string
	// Status is the carrier's review status, lower case: approved, pending, rejected,
	// paused, disabled...; only approved templates can be sent.
	Status string
	// Body is the template's text with its placeholders ({{1}}, {{name}}).
	Body string
	// Variables names the placeholders a send must fill, in order.
	Variables []string
	// ProviderID is the carrier's id (Twilio's Content SID, Meta's template id).
	ProviderID string
}

// Approved reports whether t can be sent.
func (t Template) Approved() bool { return t.Status == "approved" }

// TemplateSet is an address's stored template catalogue.
type TemplateSet struct {
	Channel   omnigate.Channel
	Address   string
	Templates []Template
	// SyncedAt is when the catalogue was last synced from the carrier; zero: never.
	SyncedAt time.Time
}

// Erasure is what EraseContact removed.
type Erasure struct {
	// Conversations lists the ids of the contact's conversations, all tombstoned.
	Conversations []string
	// Messages counts the messages whose content was erased.
	Messages int
	// Canceled lists the queued outbound messages canceled before they were sent.
	Canceled []string
}
