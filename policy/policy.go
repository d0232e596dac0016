package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
)

// Policy is a validated policy.yaml: the effective rules per channel and per queue. It
// is immutable after Parse, so one value can be shared by every goroutine.
type Policy struct {
	timeline time.Duration
	channels map[omnigate.Channel]Rules            // effective rules per channel
	queues   map[string]map[omnigate.Channel]Rules // effective rules per queue, for the channels it overrides
}

// maxThreadingTimeline bounds defaults.threading_timeline (the platforms' 72h).
const maxThreadingTimeline = 72 * time.Hour

// builtin returns the built-in rules of ch: those of examples/policy.yaml. Every rule absent from a
// policy file takes its value from here, so this is the one place defaults live.
func builtin(ch omnigate.Channel) Rules {
	r := Rules{Channel: ch, ThreadingTimeline: maxThreadingTimeline}
	switch ch {
	case SMS:
		r.OptOut = Keywords{
			Stop:      []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"},
			Start:     []string{"START", "YES", "UNSTOP"},
			Help:      []string{"HELP", "INFO"},
			HelpReply: "Reply STOP to unsubscribe.",
		}
		r.MaxSegments = 10
		r.RatePerSender = 1
	case WhatsApp:
		r.ReplyWindow = 24 * time.Hour
		r.OutsideWindow = OutsideRequireTemplate
		r.RatePerSender = 20
	case Messenger, Instagram:
		r.ReplyWindow = 24 * time.Hour
		r.HumanAgentWindow = 7 * day
		r.OutsideWindow = OutsideDeny
		if ch == Instagram {
			r.StoryMentions = true
			r.StoryMediaTTL = 24 * time.Hour
		}
	case X:
		r.MaxRepliesPerInbound = 5
	case Open:
		r.InboundTypingIndicators = false
	}
	return r
}

// Default returns the built-in policy used when no policy file is configured: the rules
// of examples/policy.yaml, without its illustrative "vip" queue override.
func Default() *Policy {
	p, problems := compile(&file{})
	if len(problems) > 0 {
		panic("policy: built-in defaults are invalid: " + (&LoadError{Problems: problems}).Error())
	}
	return p
}

// Rules returns the effective rules for sending on channel on behalf of queueID:
// built-in defaults, overridden by the file's channels.<channel>, overridden by
// queues.<queueID>.channels.<channel>, field by field. An unknown queue gets the
// channel's rules; an unknown channel gets no restrictions beyond the threading
// timeline. The result is a copy the caller may change.
func (p *Policy) Rules(queueID string, channel omnigate.Channel) Rules {
	if q, ok := p.queues[queueID]; ok {
		if r, ok := q[channel]; ok {
			return r.clone()
		}
	}
	if r, ok := p.channels[channel]; ok {
		return r.clone()
	}
	return Rules{Channel: channel, ThreadingTimeline: p.timeline}
}

// Summary describes the effective rules, one line per channel and one per queue
// override, for `omnigate policy check`.
func (p *Policy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "threading timeline: %s\n", formatDuration(p.timeline))
	for _, ch := range Channels() {
		fmt.Fprintf(&b, "%s: %s\n", ch, describe(p.channels[ch]))
	}
	for _, q := range slices.Sorted(maps.Keys(p.queues)) {
		for _, ch := range Channels() {
			if r, ok := p.queues[q][ch]; ok {
				fmt.Fprintf(&b, "queue %s, %s: %s\n", q, ch, describe(r))
			}
		}
	}
	return b.String()
}

// describe is one line of Summary.
func describe(r Rules) string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if r.ReplyWindow > 0 {
		add("reply window %s", formatDuration(r.ReplyWindow))
		if r.HumanAgentWindow > r.ReplyWindow {
			add("human agents until %s", formatDuration(r.HumanAgentWindow))
		}
		outside := r.OutsideWindow
		if outside == "" {
			outside = OutsideDeny
		}
		add("outside: %s", outside)
	}
	if r.MaxRepliesPerInbound > 0 {
		add("%d replies per inbound", r.MaxRepliesPerInbound)
	}
	if r.MaxSegments > 0 {
		add("max %d segments", r.MaxSegments)
	}
	if k := r.OptOut; len(k.Stop)+len(k.Start)+len(k.Help) > 0 {
		add("opt-out keywords: stop %s; start %s; help %s", strings.Join(k.Stop, " "), strings.Join(k.Start, " "), strings.Join(k.Help, " "))
		if k.HelpReply != "" {
			add("help reply %q", k.HelpReply)
		}
	}
	if r.RatePerSender > 0 {
		add("%s per sender", formatRate(r.RatePerSender))
	}
	if r.Channel == Instagram {
		if r.StoryMentions {
			add("story mentions on (media shown for %s)", formatDuration(r.StoryMediaTTL))
		} else {
			add("story mentions off")
		}
	}
	if r.InboundTypingIndicators {
		add("inbound typing indicators on")
	} else if r.Channel == Open {
		add("inbound typing indicators off")
	}
	if len(parts) == 0 {
		return "no restrictions"
	}
	return strings.Join(parts, ", ")
}
