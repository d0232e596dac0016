package policy

import (
	"fmt"
	"time"

	"github.com/omnigate/omnigate"
)

// Rule names a Decision can carry. Denials use the rule names the API documents
// (422 policy_denied); Recheck denials use RulePolicyExpired.
const (
	RuleReplyWindow      = "reply_window"
	RuleTemplateRequired = "template_required"
	RuleReplyCap         = "reply_cap"
	RuleOptedOut         = "opted_out"
	RuleHumanAgentOnly   = "human_agent_only"
	RuleTooLong          = "too_long"
	RulePolicyExpired    = "policy_expired"

	RuleWithinWindow   = "within_window"
	RuleHumanAgentTag  = "human_agent_tag"
	RuleTemplate       = "template"
	RuleWithinReplyCap = "within_reply_cap"
	RuleWithinSegments = "within_segments"
	RuleNone           = "no_rule"
)

// Meta's send parameters (Decision.MessagingType and Decision.Tag).
const (
	MessagingTypeResponse   = "RESPONSE"
	MessagingTypeMessageTag = "MESSAGE_TAG"
	TagHumanAgent           = "HUMAN_AGENT"
)

// Message.Sender values.
const (
	SenderHuman     = omnigate.Human
	SenderAutomated = omnigate.Automated
)

// Facts are what the store knows about the conversation when a message is decided.
type Facts struct {
	LastInboundAt       time.Time // zero if the contact never wrote
	RepliesSinceInbound int       // outbound replies accepted since the last inbound
	OptedOut            bool      // contact opted out of this sending address
}

// Message is the outbound message being decided.
type Message struct {
	Channel  omnigate.Channel
	Text     string
	Template bool            // a template send
	Media    int             // number of attachments
	Sender   omnigate.Sender // human (default when empty) or automated
}

// human reports whether m was written by a person. Anything but "" and "human" counts
// as automated, so the HUMAN_AGENT tag is never claimed for a sender we cannot vouch for.
func (m Message) human() bool { return m.Sender == "" || m.Sender == SenderHuman }

// Decision is the outcome of Decide or Recheck: allow or deny, the rule that decided, a
// sentence for people, and what the adapter must do with an allowed message.
type Decision struct {
	Allow            bool       `json:"allow"`
	Rule             string     `json:"rule"`                        // deciding rule
	Reason           string     `json:"reason"`                      // human sentence
	Tag              string     `json:"tag,omitempty"`               // "HUMAN_AGENT"
	MessagingType    string     `json:"messaging_type,omitempty"`    // "RESPONSE" | "MESSAGE_TAG" (messenger/instagram)
	RequiresTemplate bool       `json:"requires_template,omitempty"` // outside the window only templates go
	WindowClosesAt   *time.Time `json:"window_closes_at,omitempty"`  // end of the governing window (past when closed)
	RepliesLeft      *int       `json:"replies_left,omitempty"`      // after this message is accepted
	Segments         int        `json:"segments,omitempty"`          // sms
	Encoding         string     `json:"encoding,omitempty"`          // "GSM-7" | "UCS-2"
}

// Decide says whether m may be sent now under r given the conversation facts f. It is
// pure: the same arguments always give the same Decision. Rules are checked in this
// order and the first denial wins: opt-out, reply window (and human-agent window),
// reply cap, SMS length. The channel is r.Channel, or m.Channel when r has none.
//
// Windows: a message is inside a window of length w when now is before
// LastInboundAt+w, so at exactly 24h0m0s after the last inbound message the 24h window
// is closed. A contact who never wrote is outside every window.
//
// The X reply cap counts replies since the last inbound message; for a contact who
// never wrote (X delivers DMs to users who accept them) it counts from zero the same
// way, so at most MaxRepliesPerInbound messages go out before the contact answers.
//
// Opt-out is honoured on every channel: only SMS keywords set it, but a contact who
// opted out of a sending address is never messaged from it.
func Decide(r Rules, f Facts, m Message, now time.Time) Decision {
	ch := channelOf(r, m)
	if f.OptedOut {
		return Decision{Rule: RuleOptedOut, Reason: "the contact opted out of messages from this address (they can reply START to opt back in)"}
	}
	d := Decision{Allow: true, Rule: RuleNone, Reason: fmt.Sprintf("no rule restricts sending on %s", ch)}
	if r.ReplyWindow > 0 {
		d = decideWindow(r, ch, f, m, now)
		if !d.Allow {
			return d
		}
	}
	if r.MaxRepliesPerInbound > 0 {
		sent := max(f.RepliesSinceInbound, 0)
		left := max(r.MaxRepliesPerInbound-(sent+1), 0)
		d.RepliesLeft = &left
		if sent >= r.MaxRepliesPerInbound {
			d.Allow = false
			d.Rule = RuleReplyCap
			d.Reason = fmt.Sprintf("%s allows %d replies per message from the contact and %d were already sent; wait for the contact to write", ch, r.MaxRepliesPerInbound, sent)
			return d
		}
		d.Rule = RuleWithinReplyCap
		d.Reason = fmt.Sprintf("reply %d of %d allowed since the contact's last message", sent+1, r.MaxRepliesPerInbound)
	}
	if ch == SMS {
		d.Segments, d.Encoding = Segments(m.Text)
		if r.MaxSegments > 0 {
			if d.Segments > r.MaxSegments {
				d.Allow = false
				d.Rule = RuleTooLong
				d.Reason = fmt.Sprintf("the text needs %d %s segments and at most %d are allowed", d.Segments, d.Encoding, r.MaxSegments)
				return d
			}
			d.Rule = RuleWithinSegments
			d.Reason = fmt.Sprintf("%d %s segment(s), within the limit of %d", d.Segments, d.Encoding, r.MaxSegments)
		}
	}
	return d
}

// Recheck repeats only the time-based window rules of Decide for a message that was
// accepted earlier and is about to be attempted at now. A message that waited past its
// window is denied with rule policy_expired (the reason names the window rule). An
// allowed message carries the tag and messaging type valid at now: a reply decided as
// RESPONSE at 23h59 but attempted by a human at 24h01 goes as MESSAGE_TAG with
// HUMAN_AGENT. Opt-out, caps and length are not rechecked: they were settled when the
// message was accepted.
func Recheck(r Rules, f Facts, m Message, now time.Time) Decision {
	ch := channelOf(r, m)
	if r.ReplyWindow <= 0 {
		return Decision{Allow: true, Rule: RuleNone, Reason: fmt.Sprintf("no time-based rule restricts sending on %s", ch)}
	}
	d := decideWindow(r, ch, f, m, now)
	if !d.Allow {
		d.Reason = fmt.Sprintf("expired while waiting to be sent (%s): %s", d.Rule, d.Reason)
		d.Rule = RulePolicyExpired
	}
	return d
}

func channelOf(r Rules, m Message) omnigate.Channel {
	if r.Channel != "" {
		return r.Channel
	}
	return m.Channel
}

// usesMessagingType reports whether ch is a Meta messaging product whose sends carry a
// messaging_type (and, outside the standard window, a message tag).
func usesMessagingType(ch omnigate.Channel) bool { return ch == Messenger || ch == Instagram }

// decideWindow applies the reply window, the human-agent window and the outside-window
// rule. r.ReplyWindow must be positive.
func decideWindow(r Rules, ch omnigate.Channel, f Facts, m Message, now time.Time) Decision {
	meta := usesMessagingType(ch)
	humanWindow := r.HumanAgentWindow > r.ReplyWindow
	last := f.LastInboundAt
	var replyEnd, humanEnd time.Time
	if !last.IsZero() {
		replyEnd = last.Add(r.ReplyWindow)
		humanEnd = last.Add(r.HumanAgentWindow)
		if now.Before(replyEnd) {
			d := Decision{Allow: true, Rule: RuleWithinWindow, WindowClosesAt: ptr(replyEnd),
				Reason: fmt.Sprintf("within the %s reply window after the contact's last message", formatDuration(r.ReplyWindow))}
			if meta {
				d.MessagingType = MessagingTypeResponse
			}
			return d
		}
		if humanWindow && now.Before(humanEnd) {
			if !m.human() {
				return Decision{Rule: RuleHumanAgentOnly, WindowClosesAt: ptr(replyEnd),
					Reason: fmt.Sprintf("the %s reply window closed; until %s after the contact's last message only a human agent may reply", formatDuration(r.ReplyWindow), formatDuration(r.HumanAgentWindow))}
			}
			d := Decision{Allow: true, Rule: RuleHumanAgentTag, Tag: TagHumanAgent, WindowClosesAt: ptr(humanEnd),
				Reason: fmt.Sprintf("the %s reply window closed; a human agent may reply with the HUMAN_AGENT tag until %s after the contact's last message", formatDuration(r.ReplyWindow), formatDuration(r.HumanAgentWindow))}
			if meta {
				d.MessagingType = MessagingTypeMessageTag
			}
			return d
		}
	}

	// Outside every window.
	var closed *time.Time
	span := r.ReplyWindow
	if !last.IsZero() {
		closed = ptr(replyEnd)
		if humanWindow {
			closed = ptr(humanEnd)
		}
	}
	if humanWindow {
		span = r.HumanAgentWindow
	}
	why := fmt.Sprintf("the contact's last message is more than %s old", formatDuration(span))
	if last.IsZero() {
		why = "the contact has never written"
	}
	if r.OutsideWindow == OutsideRequireTemplate {
		if m.Template {
			return Decision{Allow: true, Rule: RuleTemplate, RequiresTemplate: true, WindowClosesAt: closed,
				Reason: fmt.Sprintf("outside the %s reply window (%s); sent as a template", formatDuration(r.ReplyWindow), why)}
		}
		return Decision{Rule: RuleTemplateRequired, RequiresTemplate: true, WindowClosesAt: closed,
			Reason: fmt.Sprintf("outside the %s reply window (%s) only a template can be sent", formatDuration(r.ReplyWindow), why)}
	}
	return Decision{Rule: RuleReplyWindow, WindowClosesAt: closed,
		Reason: fmt.Sprintf("%s does not accept replies: %s", ch, why)}
}

func ptr[T any](v T) *T { return &v }
