package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/omnigate/omnigate"
)

// lastInbound is the fixed instant every window test counts from.
var lastInbound = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

const (
	d1 = 24 * time.Hour
	d7 = 7 * d1
)

func at(offset time.Duration) time.Time { return lastInbound.Add(offset) }

// ignoreReason leaves Reason out of comparisons; checkDecision asserts it is set.
var ignoreReason = cmpopts.IgnoreFields(Decision{}, "Reason")

func checkDecision(t *testing.T, want, got Decision) {
	t.Helper()
	if diff := cmp.Diff(want, got, ignoreReason); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	if got.Reason == "" {
		t.Errorf("decision %q has no reason", got.Rule)
	}
}

func TestDecideMetaWindows(t *testing.T) {
	t.Parallel()
	p := Default()
	human := Message{Text: "hi"}
	humanSaid := Message{Text: "hi", Sender: SenderHuman}
	bot := Message{Text: "hi", Sender: SenderAutomated}
	unknownSender := Message{Text: "hi", Sender: "robot"}
	replyEnd, humanEnd := at(d1), at(d7)
	response := func(closes time.Time) Decision {
		return Decision{Allow: true, Rule: RuleWithinWindow, MessagingType: MessagingTypeResponse, WindowClosesAt: &closes}
	}
	tagged := Decision{Allow: true, Rule: RuleHumanAgentTag, MessagingType: MessagingTypeMessageTag, Tag: TagHumanAgent, WindowClosesAt: &humanEnd}
	humanOnly := Decision{Rule: RuleHumanAgentOnly, WindowClosesAt: &replyEnd}
	closed := Decision{Rule: RuleReplyWindow, WindowClosesAt: &humanEnd}
	never := Decision{Rule: RuleReplyWindow}

	tests := []struct {
		name   string
		ch     omnigate.Channel
		facts  Facts
		msg    Message
		offset time.Duration
		want   Decision
	}{
		{"at the inbound", Messenger, Facts{LastInboundAt: lastInbound}, human, 0, response(replyEnd)},
		{"23h59 human", Messenger, Facts{LastInboundAt: lastInbound}, human, d1 - time.Minute, response(replyEnd)},
		{"23h59 automated: never tagged", Messenger, Facts{LastInboundAt: lastInbound}, bot, d1 - time.Minute, response(replyEnd)},
		{"24h-1ns human", Messenger, Facts{LastInboundAt: lastInbound}, human, d1 - 1, response(replyEnd)},
		{"24h human: window closed, tag", Messenger, Facts{LastInboundAt: lastInbound}, human, d1, tagged},
		{"24h explicit human", Messenger, Facts{LastInboundAt: lastInbound}, humanSaid, d1, tagged},
		{"24h automated", Messenger, Facts{LastInboundAt: lastInbound}, bot, d1, humanOnly},
		{"24h unknown sender counts as automated", Messenger, Facts{LastInboundAt: lastInbound}, unknownSender, d1, humanOnly},
		{"24h01 human", Messenger, Facts{LastInboundAt: lastInbound}, human, d1 + time.Minute, tagged},
		{"24h01 automated", Messenger, Facts{LastInboundAt: lastInbound}, bot, d1 + time.Minute, humanOnly},
		{"6d23h human", Messenger, Facts{LastInboundAt: lastInbound}, human, d7 - time.Hour, tagged},
		{"6d23h automated", Messenger, Facts{LastInboundAt: lastInbound}, bot, d7 - time.Hour, humanOnly},
		{"7d human", Messenger, Facts{LastInboundAt: lastInbound}, human, d7, closed},
		{"7d automated", Messenger, Facts{LastInboundAt: lastInbound}, bot, d7, closed},
		{"7d+1m human", Messenger, Facts{LastInboundAt: lastInbound}, human, d7 + time.Minute, closed},
		{"never wrote, human", Messenger, Facts{}, human, 0, never},
		{"never wrote, template", Messenger, Facts{}, Message{Template: true}, 0, never},
		{"instagram 23h59", Instagram, Facts{LastInboundAt: lastInbound}, human, d1 - time.Minute, response(replyEnd)},
		{"instagram 24h human", Instagram, Facts{LastInboundAt: lastInbound}, human, d1, tagged},
		{"instagram 24h automated", Instagram, Facts{LastInboundAt: lastInbound}, bot, d1, humanOnly},
		{"instagram 7d", Instagram, Facts{LastInboundAt: lastInbound}, human, d7, closed},
		{"instagram never", Instagram, Facts{}, bot, 0, never},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.msg
			m.Channel = tt.ch
			checkDecision(t, tt.want, Decide(p.Rules("", tt.ch), tt.facts, m, at(tt.offset)))
		})
	}
}

func TestDecideWhatsApp(t *testing.T) {
	t.Parallel()
	r := Default().Rules("support", WhatsApp)
	text := Message{Channel: WhatsApp, Text: "hi"}
	media := Message{Channel: WhatsApp, Media: 1}
	tmpl := Message{Channel: WhatsApp, Template: true}
	end := at(d1)
	inbound := Facts{LastInboundAt: lastInbound}
	tests := []struct {
		name   string
		facts  Facts
		msg    Message
		offset time.Duration
		want   Decision
	}{
		{"23h59 free-form", inbound, text, d1 - time.Minute, Decision{Allow: true, Rule: RuleWithinWindow, WindowClosesAt: &end}},
		{"23h59 template", inbound, tmpl, d1 - time.Minute, Decision{Allow: true, Rule: RuleWithinWindow, WindowClosesAt: &end}},
		{"24h free-form", inbound, text, d1, Decision{Rule: RuleTemplateRequired, RequiresTemplate: true, WindowClosesAt: &end}},
		{"24h01 free-form", inbound, text, d1 + time.Minute, Decision{Rule: RuleTemplateRequired, RequiresTemplate: true, WindowClosesAt: &end}},
		{"24h01 media is free-form", inbound, media, d1 + time.Minute, Decision{Rule: RuleTemplateRequired, RequiresTemplate: true, WindowClosesAt: &end}},
		{"24h template", inbound, tmpl, d1, Decision{Allow: true, Rule: RuleTemplate, RequiresTemplate: true, WindowClosesAt: &end}},
		{"30d template", inbound, tmpl, 30 * d1, Decision{Allow: true, Rule: RuleTemplate, RequiresTemplate: true, WindowClosesAt: &end}},
		{"never wrote, free-form", Facts{}, text, 0, Decision{Rule: RuleTemplateRequired, RequiresTemplate: true}},
		{"never wrote, template", Facts{}, tmpl, 0, Decision{Allow: true, Rule: RuleTemplate, RequiresTemplate: true}},
		{"automated inside: no human-agent rule on whatsapp", inbound, Message{Channel: WhatsApp, Text: "hi", Sender: SenderAutomated}, time.Hour, Decision{Allow: true, Rule: RuleWithinWindow, WindowClosesAt: &end}},
		{"opted out", Facts{LastInboundAt: lastInbound, OptedOut: true}, text, time.Hour, Decision{Rule: RuleOptedOut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDecision(t, tt.want, Decide(r, tt.facts, tt.msg, at(tt.offset)))
		})
	}
}

func TestDecideOutsideWindowDenyForWhatsApp(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte("version: 1\nchannels:\n  whatsapp: {outside_window: deny}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Decide(p.Rules("", WhatsApp), Facts{LastInboundAt: lastInbound}, Message{Template: true}, at(d1))
	if d.Allow || d.Rule != RuleReplyWindow || d.RequiresTemplate {
		t.Errorf("template outside a deny window: %+v, want reply_window denial", d)
	}
}

func TestDecideReplyWindowOff(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte("version: 1\nchannels:\n  messenger: {reply_window: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := Decide(p.Rules("", Messenger), Facts{}, Message{Sender: SenderAutomated, Text: "hi"}, at(30*d1))
	checkDecision(t, Decision{Allow: true, Rule: RuleNone}, got)
}

func TestDecideXReplyCap(t *testing.T) {
	t.Parallel()
	r := Default().Rules("", X)
	msg := Message{Channel: X, Text: "thanks"}
	left := func(n int) *int { return &n }
	tests := []struct {
		name  string
		facts Facts
		want  Decision
	}{
		{"1st reply", Facts{LastInboundAt: lastInbound}, Decision{Allow: true, Rule: RuleWithinReplyCap, RepliesLeft: left(4)}},
		{"5th reply", Facts{LastInboundAt: lastInbound, RepliesSinceInbound: 4}, Decision{Allow: true, Rule: RuleWithinReplyCap, RepliesLeft: left(0)}},
		{"6th reply", Facts{LastInboundAt: lastInbound, RepliesSinceInbound: 5}, Decision{Rule: RuleReplyCap, RepliesLeft: left(0)}},
		{"way over", Facts{LastInboundAt: lastInbound, RepliesSinceInbound: 50}, Decision{Rule: RuleReplyCap, RepliesLeft: left(0)}},
		{"never wrote, 1st", Facts{}, Decision{Allow: true, Rule: RuleWithinReplyCap, RepliesLeft: left(4)}},
		{"never wrote, 6th", Facts{RepliesSinceInbound: 5}, Decision{Rule: RuleReplyCap, RepliesLeft: left(0)}},
		{"no window on x", Facts{LastInboundAt: lastInbound.Add(-30 * d1), RepliesSinceInbound: 2}, Decision{Allow: true, Rule: RuleWithinReplyCap, RepliesLeft: left(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDecision(t, tt.want, Decide(r, tt.facts, msg, at(time.Hour)))
		})
	}
}

// TestInboundResets plays a conversation: replies are counted as the store would, the
// cap and the window close, and a new inbound message reopens both.
func TestInboundResets(t *testing.T) {
	t.Parallel()
	p := Default()
	t.Run("x", func(t *testing.T) {
		r := p.Rules("", X)
		f := Facts{LastInboundAt: lastInbound}
		var accepted []int
		for i := 1; i <= 7; i++ {
			if d := Decide(r, f, Message{Text: "a"}, at(time.Minute)); d.Allow {
				accepted = append(accepted, i)
				f.RepliesSinceInbound++
			} else if d.Rule != RuleReplyCap {
				t.Fatalf("reply %d denied by %q, want reply_cap", i, d.Rule)
			}
		}
		if diff := cmp.Diff([]int{1, 2, 3, 4, 5}, accepted); diff != "" {
			t.Errorf("accepted replies (-want +got):\n%s", diff)
		}
		f = Facts{LastInboundAt: at(time.Hour)} // the contact wrote again
		if d := Decide(r, f, Message{Text: "a"}, at(time.Hour+time.Minute)); !d.Allow || *d.RepliesLeft != 4 {
			t.Errorf("after a new inbound: %+v, want allowed with 4 left", d)
		}
	})
	t.Run("messenger", func(t *testing.T) {
		r := p.Rules("", Messenger)
		bot := Message{Text: "a", Sender: SenderAutomated}
		if d := Decide(r, Facts{LastInboundAt: lastInbound}, bot, at(8*d1)); d.Allow {
			t.Fatalf("8 days after the inbound: allowed, want denied")
		}
		d := Decide(r, Facts{LastInboundAt: at(8 * d1)}, bot, at(8*d1+time.Minute))
		if !d.Allow || d.MessagingType != MessagingTypeResponse || d.Tag != "" {
			t.Errorf("after a new inbound: %+v, want RESPONSE without tag", d)
		}
	})
}

func TestDecideSMS(t *testing.T) {
	t.Parallel()
	r := Default().Rules("", SMS)
	off := r
	off.MaxSegments = 0
	digits := func(n int) string { return strings.Repeat("7", n) }
	cyr := func(n int) string { return strings.Repeat("Ж", n) }
	tests := []struct {
		name  string
		r     Rules
		facts Facts
		text  string
		want  Decision
	}{
		{"one segment", r, Facts{}, digits(160), Decision{Allow: true, Rule: RuleWithinSegments, Segments: 1, Encoding: EncodingGSM7}},
		{"10 GSM-7 segments", r, Facts{}, digits(1530), Decision{Allow: true, Rule: RuleWithinSegments, Segments: 10, Encoding: EncodingGSM7}},
		{"11 GSM-7 segments", r, Facts{}, digits(1531), Decision{Rule: RuleTooLong, Segments: 11, Encoding: EncodingGSM7}},
		{"10 UCS-2 segments", r, Facts{}, cyr(670), Decision{Allow: true, Rule: RuleWithinSegments, Segments: 10, Encoding: EncodingUCS2}},
		{"11 UCS-2 segments", r, Facts{}, cyr(671), Decision{Rule: RuleTooLong, Segments: 11, Encoding: EncodingUCS2}},
		{"limit off", off, Facts{}, digits(1531), Decision{Allow: true, Rule: RuleNone, Segments: 11, Encoding: EncodingGSM7}},
		{"opted out wins over length", r, Facts{OptedOut: true}, digits(1531), Decision{Rule: RuleOptedOut}},
		{"opted out", r, Facts{OptedOut: true, LastInboundAt: lastInbound}, "hi", Decision{Rule: RuleOptedOut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDecision(t, tt.want, Decide(tt.r, tt.facts, Message{Channel: SMS, Text: tt.text}, at(time.Hour)))
		})
	}
}

func TestDecideOpen(t *testing.T) {
	t.Parallel()
	got := Decide(Default().Rules("", Open), Facts{}, Message{Channel: Open, Text: "hi", Sender: SenderAutomated}, at(0))
	checkDecision(t, Decision{Allow: true, Rule: RuleNone}, got)
}

func TestDecideChannelFromMessage(t *testing.T) {
	t.Parallel()
	r := Default().Rules("", Messenger)
	r.Channel = ""
	d := Decide(r, Facts{LastInboundAt: lastInbound}, Message{Channel: Messenger}, at(time.Hour))
	if d.MessagingType != MessagingTypeResponse {
		t.Errorf("messaging type = %q, want RESPONSE taken from the message's channel", d.MessagingType)
	}
}

func TestRecheck(t *testing.T) {
	t.Parallel()
	p := Default()
	meta := p.Rules("", Messenger)
	wa := p.Rules("", WhatsApp)
	inbound := Facts{LastInboundAt: lastInbound}
	replyEnd, humanEnd := at(d1), at(d7)
	tests := []struct {
		name   string
		r      Rules
		facts  Facts
		msg    Message
		offset time.Duration
		want   Decision
	}{
		{"still inside", meta, inbound, Message{Text: "a"}, d1 - time.Minute,
			Decision{Allow: true, Rule: RuleWithinWindow, MessagingType: MessagingTypeResponse, WindowClosesAt: &replyEnd}},
		{"human: RESPONSE becomes HUMAN_AGENT", meta, inbound, Message{Text: "a"}, d1 + time.Minute,
			Decision{Allow: true, Rule: RuleHumanAgentTag, MessagingType: MessagingTypeMessageTag, Tag: TagHumanAgent, WindowClosesAt: &humanEnd}},
		{"automated expired", meta, inbound, Message{Text: "a", Sender: SenderAutomated}, d1 + time.Minute,
			Decision{Rule: RulePolicyExpired, WindowClosesAt: &replyEnd}},
		{"human past 7d expired", meta, inbound, Message{Text: "a"}, d7,
			Decision{Rule: RulePolicyExpired, WindowClosesAt: &humanEnd}},
		{"whatsapp free-form expired", wa, inbound, Message{Text: "a"}, d1,
			Decision{Rule: RulePolicyExpired, RequiresTemplate: true, WindowClosesAt: &replyEnd}},
		{"whatsapp template still goes", wa, inbound, Message{Template: true}, 3 * d1,
			Decision{Allow: true, Rule: RuleTemplate, RequiresTemplate: true, WindowClosesAt: &replyEnd}},
		{"new inbound while waiting", meta, Facts{LastInboundAt: at(d7)}, Message{Text: "a", Sender: SenderAutomated}, d7 + time.Minute,
			Decision{Allow: true, Rule: RuleWithinWindow, MessagingType: MessagingTypeResponse, WindowClosesAt: ptr(at(d7 + d1))}},
		{"x cap is not rechecked", p.Rules("", X), Facts{RepliesSinceInbound: 9}, Message{Text: "a"}, 0,
			Decision{Allow: true, Rule: RuleNone}},
		{"sms opt-out and length are not rechecked", p.Rules("", SMS), Facts{OptedOut: true}, Message{Text: strings.Repeat("a", 5000)}, 0,
			Decision{Allow: true, Rule: RuleNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Recheck(tt.r, tt.facts, tt.msg, at(tt.offset))
			checkDecision(t, tt.want, got)
			if got.Rule == RulePolicyExpired && !strings.Contains(got.Reason, "expired") {
				t.Errorf("reason %q does not say the message expired", got.Reason)
			}
		})
	}
}

func TestKeyword(t *testing.T) {
	t.Parallel()
	r := Default().Rules("", SMS)
	tests := []struct {
		text string
		want KeywordKind
	}{
		{"STOP", KeywordStop},
		{"stop", KeywordStop},
		{" Stop ", KeywordStop},
		{"\tsToP\n", KeywordStop},
		{"unsubscribe", KeywordStop},
		{"START", KeywordStart},
		{" yes", KeywordStart},
		{"Unstop", KeywordStart},
		{"HELP", KeywordHelp},
		{" hElP ", KeywordHelp},
		{"info", KeywordHelp},
		{"stop please", KeywordNone},
		{"please stop", KeywordNone},
		{"STOP!", KeywordNone},
		{"", KeywordNone},
		{"   ", KeywordNone},
		{"stopp", KeywordNone},
	}
	for _, tt := range tests {
		if got := r.Keyword(tt.text); got != tt.want {
			t.Errorf("Keyword(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
	if got := Default().Rules("", WhatsApp).Keyword("STOP"); got != KeywordNone {
		t.Errorf("whatsapp Keyword(STOP) = %v, want none: opt-out keywords are sms rules", got)
	}
}

func TestSegments(t *testing.T) {
	t.Parallel()
	digits := func(n int) string { return strings.Repeat("1", n) }
	cyr := func(n int) string { return strings.Repeat("Д", n) }
	const emoji = "😀" // one surrogate pair in UTF-16
	tests := []struct {
		name     string
		text     string
		n        int
		encoding string
	}{
		{"empty", "", 0, EncodingGSM7},
		{"160 plain", digits(160), 1, EncodingGSM7},
		{"161 plain", digits(161), 2, EncodingGSM7},
		{"306 plain", digits(306), 2, EncodingGSM7},
		{"307 plain", digits(307), 3, EncodingGSM7},
		{"brace + 158", "{" + digits(158), 1, EncodingGSM7},
		{"brace + 159", "{" + digits(159), 2, EncodingGSM7},
		{"80 euro signs", strings.Repeat("€", 80), 1, EncodingGSM7},
		{"81 euro signs", strings.Repeat("€", 81), 2, EncodingGSM7},
		// 306 septets fit two parts, but an escape pair never straddles a boundary.
		{"escape not split", digits(152) + "[" + digits(150) + "]", 3, EncodingGSM7},
		{"é is GSM-7 basic", strings.Repeat("é", 160), 1, EncodingGSM7},
		{"GSM-7 specials", "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\[~]|€\f", 1, EncodingGSM7},
		{"backtick is not GSM-7", "`", 1, EncodingUCS2},
		{"ç is not GSM-7 (only Ç)", "ç", 1, EncodingUCS2},
		{"70 cyrillic", cyr(70), 1, EncodingUCS2},
		{"71 cyrillic", cyr(71), 2, EncodingUCS2},
		{"134 cyrillic", cyr(134), 2, EncodingUCS2},
		{"135 cyrillic", cyr(135), 3, EncodingUCS2},
		{"emoji + 68", emoji + digits(68), 1, EncodingUCS2},
		{"emoji + 69", emoji + digits(69), 2, EncodingUCS2},
		// 134 units fit two parts, but a surrogate pair never straddles a boundary.
		{"surrogate not split", cyr(66) + emoji + cyr(64) + emoji, 3, EncodingUCS2},
		{"GSM-7 text with one cyrillic letter", digits(100) + "Д", 2, EncodingUCS2},
	}
	for _, tt := range tests {
		n, enc := Segments(tt.text)
		if n != tt.n || enc != tt.encoding {
			t.Errorf("%s: Segments = %d %s, want %d %s", tt.name, n, enc, tt.n, tt.encoding)
		}
	}
}
