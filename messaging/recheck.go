package messaging

import (
	"time"

	"github.com/omnigate/omnigate"

	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
)

// Recheck returns the relay's pre-attempt check: the time-based policy rules applied
// again to a claimed message with its conversation's facts as they are now, so a message
// that waited past its window is failed instead of sent late, and a tag is the one valid
// at the moment of sending.
func Recheck(pol func() *policy.Policy) func(e store.Entry, now time.Time) outbox.Verdict {
	return func(e store.Entry, now time.Time) outbox.Verdict {
		m, c := e.Message, e.Conversation
		if m == nil || c == nil {
			return outbox.Verdict{Allow: true}
		}
		rules := pol().Rules(m.QueueID, m.Channel)
		d := policy.Recheck(rules, policy.Facts{LastInboundAt: c.LastInboundAt, RepliesSinceInbound: c.RepliesSinceInbound},
			policy.Message{Channel: m.Channel, Text: m.Text, Template: m.Template != nil, Media: len(m.Media), Sender: m.Sender}, now)
		return outbox.Verdict{Allow: d.Allow, Tag: d.Tag, Rule: d.Rule, Reason: d.Reason}
	}
}

// Rate returns the relay's per-sender pacing: the rate_per_sender rule of the
// message's queue and channel, in messages per second (0: unpaced).
func Rate(pol func() *policy.Policy) func(m omnigate.Message) float64 {
	return func(m omnigate.Message) float64 {
		return pol().Rules(m.QueueID, m.Channel).RatePerSender
	}
}
