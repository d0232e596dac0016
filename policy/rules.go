package policy

import (
	"slices"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
)

// The channels policy knows: the root package's, under short names.
const (
	SMS       = omnigate.SMS
	WhatsApp  = omnigate.WhatsApp
	Messenger = omnigate.Messenger
	Instagram = omnigate.Instagram
	X         = omnigate.X
	Open      = omnigate.Open
)

// Channels returns every channel policy knows, in the order Summary prints them.
func Channels() []omnigate.Channel { return omnigate.AllChannels() }

// Values of Rules.OutsideWindow.
const (
	OutsideRequireTemplate = "require_template"
	OutsideDeny            = "deny"
)

// Rules are the effective rules for one channel (and queue). A rule whose value is zero
// or empty is off. Rules is a plain value: changing it never changes the Policy it came
// from.
type Rules struct {
	Channel omnigate.Channel
	// ThreadingTimeline is how long after the last activity a reply continues a
	// conversation (0..72h); 0 starts a new conversation for every reply.
	ThreadingTimeline time.Duration
	// ReplyWindow is how long after the contact's last inbound message free-form
	// replies are allowed; 0 means no window (every send is allowed).
	ReplyWindow time.Duration
	// HumanAgentWindow extends the reply window for human senders (Meta's HUMAN_AGENT
	// tag); it counts from the last inbound message, like ReplyWindow. 0 is off.
	HumanAgentWindow time.Duration
	// OutsideWindow says what happens outside every window: OutsideRequireTemplate or
	// OutsideDeny. Empty with a ReplyWindow set is treated as OutsideDeny.
	OutsideWindow string
	// MaxRepliesPerInbound caps outbound replies between two inbound messages (X).
	// 0 is unlimited.
	MaxRepliesPerInbound int
	// MaxSegments caps the SMS segments of one message. 0 is unlimited.
	MaxSegments int
	// OptOut holds the SMS keywords that opt a contact out, back in, or ask for help.
	OptOut Keywords
	// RatePerSender paces sends from one sending address, in messages per second.
	// The relay applies it by waiting, never by rejecting. 0 is unpaced.
	RatePerSender float64
	// StoryMentions is false when inbound Instagram story mentions are dropped.
	StoryMentions bool
	// StoryMediaTTL is how long story-mention media links are shown before they are
	// marked expired. They are never persisted.
	StoryMediaTTL time.Duration
	// InboundTypingIndicators is true when the contact's typing events are forwarded to
	// the platform.
	InboundTypingIndicators bool
}

// Keywords are the single-word SMS keywords a contact can send, matched in any case.
type Keywords struct {
	Stop, Start, Help []string
	// HelpReply is the answer to a help keyword; empty means no automatic answer.
	HelpReply string
}

func (k Keywords) clone() Keywords {
	return Keywords{
		Stop:      slices.Clone(k.Stop),
		Start:     slices.Clone(k.Start),
		Help:      slices.Clone(k.Help),
		HelpReply: k.HelpReply,
	}
}

func (r Rules) clone() Rules {
	r.OptOut = r.OptOut.clone()
	return r
}

// KeywordKind says which opt-out keyword list an inbound text matched.
type KeywordKind int

// Keyword kinds. KeywordNone is the zero value: the text is an ordinary message.
const (
	KeywordNone KeywordKind = iota
	KeywordStop
	KeywordStart
	KeywordHelp
)

// String returns "none", "stop", "start" or "help".
func (k KeywordKind) String() string {
	switch k {
	case KeywordStop:
		return "stop"
	case KeywordStart:
		return "start"
	case KeywordHelp:
		return "help"
	default:
		return "none"
	}
}

// Keyword reports which keyword list text matches. Carriers treat a keyword as a
// message that is exactly one word, so the whole text, with surrounding whitespace
// removed, must equal a keyword in any case: " Stop " matches, "stop please" does not.
// Stop wins over start and help should a word appear in several lists.
func (r Rules) Keyword(text string) KeywordKind {
	word := strings.TrimSpace(text)
	if word == "" {
		return KeywordNone
	}
	match := func(list []string) bool {
		return slices.ContainsFunc(list, func(k string) bool { return strings.EqualFold(k, word) })
	}
	switch {
	case match(r.OptOut.Stop):
		return KeywordStop
	case match(r.OptOut.Start):
		return KeywordStart
	case match(r.OptOut.Help):
		return KeywordHelp
	}
	return KeywordNone
}
