package config

import (
	"time"
)

// Retention says how long message content and conversations are kept. Zero (the
// default) keeps them forever.
type Retention struct {
	// MessageBodies: after this, a message's text, media references and template
	// variables are blanked, leaving a tombstone so that counts and threads hold.
	MessageBodies Duration `yaml:"message_bodies"`
	// Conversations: a conversation inactive this long is deleted with its messages.
	Conversations Duration `yaml:"conversations"`
}

// TemplateSyncInterval is how often the WhatsApp template catalogues are read again
// from the carriers (an administrator can also sync at once).
const TemplateSyncInterval = time.Hour

// minRetention is the shortest retention accepted: anything shorter is almost
// certainly a unit mistake (90s for 90d) that would erase live conversations.
const minRetention = 24 * time.Hour

func (v *validator) retention() {
	r := v.c.Retention
	for _, f := range []struct {
		path string
		d    Duration
	}{{"retention.message_bodies", r.MessageBodies}, {"retention.conversations", r.Conversations}} {
		if f.d != 0 && f.d.Std() < minRetention {
			v.add(f.path, "must be at least 1d (or 0 to keep forever), got %s", f.d)
		}
	}
	if r.MessageBodies != 0 && r.Conversations != 0 && r.Conversations < r.MessageBodies {
		v.add("retention.conversations", "is shorter than retention.message_bodies (%s): conversations would go before their bodies; "+
			"make it at least as long", r.MessageBodies)
	}
}
