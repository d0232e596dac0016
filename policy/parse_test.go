package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
)

func TestLoadBrokenFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		{"unknown_key.yaml", []string{
			"testdata/unknown_key.yaml:7:5: channels.sms.max_segmnts: unknown key",
		}},
		{"bad_duration.yaml", []string{
			`testdata/bad_duration.yaml:4:19: channels.whatsapp.reply_window: invalid duration "24hours" (want e.g. 90s, 15m, 24h, 7d)`,
			`testdata/bad_duration.yaml:6:22: channels.instagram.story_media_ttl: invalid duration "1.5d" (want e.g. 90s, 15m, 24h, 7d)`,
		}},
		{"timeline.yaml", []string{
			"testdata/timeline.yaml:3:23: defaults.threading_timeline: 100h is out of range (0 to 72h)",
		}},
		{"unknown_channel.yaml", []string{
			"testdata/unknown_channel.yaml:3:3: channels.telegram: unknown channel (want one of sms, whatsapp, messenger, instagram, x, open)",
			"testdata/unknown_channel.yaml:8:7: queues.vip.channels.fax: unknown channel (want one of sms, whatsapp, messenger, instagram, x, open)",
		}},
		{"bad_rate.yaml", []string{
			`testdata/bad_rate.yaml:4:24: channels.sms.rate.per_sender: invalid rate "fast" (want e.g. 1/s, 20/s, 5/m)`,
			`testdata/bad_rate.yaml:6:24: channels.whatsapp.rate.per_sender: invalid rate "20/day" (want e.g. 1/s, 20/s, 5/m)`,
		}},
		// yaml.v3 reports the line of the enclosing block, not of the bad indentation.
		{"syntax.yaml", []string{
			"testdata/syntax.yaml:2: YAML syntax: did not find expected key",
		}},
		{"many.yaml", []string{
			"testdata/many.yaml:1:10: version: unsupported version 2 (want 1)",
			"testdata/many.yaml:3:23: defaults.threading_timeline: -1h is out of range (0 to 72h)",
			"testdata/many.yaml:6:19: channels.sms.max_segments: must be a whole number",
			"testdata/many.yaml:7:5: channels.sms.reply_window: not supported on sms (only on whatsapp, messenger, instagram)",
			`testdata/many.yaml:9:20: channels.sms.opt_out.stop[1]: keyword "stop now" must be a single word`,
			`testdata/many.yaml:10:22: channels.sms.opt_out.start[1]: keyword "stop" is already in stop`,
			"testdata/many.yaml:13:25: channels.messenger.human_agent_window: human_agent_window (36h) must not be shorter than reply_window (48h)",
			"testdata/many.yaml:14:21: channels.messenger.outside_window: must be require_template or deny",
			"testdata/many.yaml:17:5: channels.whatsapp.reply_window: duplicate key (first at line 16)",
			"testdata/many.yaml:19:30: channels.x.max_replies_per_inbound: must not be negative",
			"testdata/many.yaml:21:21: channels.instagram.story_mentions: must be true or false",
			"testdata/many.yaml:25:33: queues.vip.channels.messenger.reply_window: reply_window (8d) must not be longer than human_agent_window (36h)",
			"testdata/many.yaml:26:5: queues.vip.priority: unknown key",
			"testdata/many.yaml:27:1: colour: unknown key",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			p, err := Load(filepath.Join("testdata", tt.file))
			if p != nil {
				t.Errorf("Load returned a policy along with its error")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load error = %v (%T), want *LoadError", err, err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(le.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if len(le.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d", len(le.Problems), len(tt.want))
			}
		})
	}
}

func TestParseSmallDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string // LoadError lines; nil means valid
	}{
		{"empty", "", []string{"1:1: version: required (the file is empty; start it with version: 1)"}},
		{"only comments", "# nothing\n", []string{"1:1: version: required (the file is empty; start it with version: 1)"}},
		{"missing version", "channels: {}\n", []string{"1:1: version: required (version: 1)"}},
		{"version as string", "version: \"1\"\n", []string{"1:10: version: must be 1"}},
		{"not a mapping", "- version: 1\n", []string{"1:1: a policy must be a mapping of keys (version, defaults, channels, queues)"}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{"2:1: only one YAML document is allowed"}},
		{"channel not a mapping", "version: 1\nchannels:\n  sms: 5\n", []string{"3:8: channels.sms: must be a mapping"}},
		{"keywords not a list", "version: 1\nchannels:\n  sms:\n    opt_out: {stop: STOP}\n", []string{"4:21: channels.sms.opt_out.stop: must be a list of keywords"}},
		{"negative window", "version: 1\nchannels:\n  whatsapp: {reply_window: -1h}\n", []string{"3:28: channels.whatsapp.reply_window: must not be negative"}},
		{"duration without unit", "version: 1\nchannels:\n  whatsapp: {reply_window: 24}\n", []string{`3:28: channels.whatsapp.reply_window: invalid duration "24" (want e.g. 90s, 15m, 24h, 7d)`}},
		{"key for another channel", "version: 1\nchannels:\n  x: {story_mentions: false}\n", []string{"3:7: channels.x.story_mentions: not supported on x (only on instagram)"}},
		{"rate unknown key", "version: 1\nchannels:\n  sms: {rate: {per_contact: 1/s}}\n", []string{"3:16: channels.sms.rate.per_contact: unknown key"}},
		{"queue unknown key", "version: 1\nqueues:\n  vip: {chanels: {}}\n", []string{"3:9: queues.vip.chanels: unknown key"}},
		{"defaults unknown key", "version: 1\ndefaults:\n  threading: 1h\n", []string{"3:3: defaults.threading: unknown key"}},
		{"minimal", "version: 1\n", nil},
		{"null blocks", "version: 1\ndefaults:\nchannels:\n  open:\nqueues:\n", nil},
		{"timeline bounds", "version: 1\ndefaults: {threading_timeline: 0}\n", nil},
		{"timeline 72h", "version: 1\ndefaults: {threading_timeline: 3d}\n", nil},
		{"human window off", "version: 1\nchannels:\n  messenger: {reply_window: 48h, human_agent_window: 0}\n", nil},
		{"anchors", "version: 1\nchannels:\n  messenger: &meta {reply_window: 12h}\n  instagram: *meta\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse error = %v, want *LoadError", err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(le.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecExampleIsDefault(t *testing.T) {
	t.Parallel()
	p, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	for _, ch := range Channels() {
		if diff := cmp.Diff(d.Rules("", ch), p.Rules("", ch)); diff != "" {
			t.Errorf("%s: Default differs from the example policy (-default +file):\n%s", ch, diff)
		}
	}
	// Default carries no example queue.
	if got := d.Rules("vip", SMS).RatePerSender; got != 1 {
		t.Errorf("Default vip sms rate = %v, want the channel's 1/s", got)
	}
	want := Rules{
		Channel:           SMS,
		ThreadingTimeline: 72 * time.Hour,
		MaxSegments:       10,
		OptOut: Keywords{
			Stop:      []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"},
			Start:     []string{"START", "YES", "UNSTOP"},
			Help:      []string{"HELP", "INFO"},
			HelpReply: "Reply STOP to unsubscribe.",
		},
		RatePerSender: 5,
	}
	if diff := cmp.Diff(want, p.Rules("vip", SMS)); diff != "" {
		t.Errorf("vip sms rules (-want +got):\n%s", diff)
	}
}

func TestDefaultRules(t *testing.T) {
	t.Parallel()
	d := Default()
	tests := []struct {
		ch   omnigate.Channel
		want Rules
	}{
		{WhatsApp, Rules{Channel: WhatsApp, ThreadingTimeline: 72 * time.Hour, ReplyWindow: 24 * time.Hour, OutsideWindow: OutsideRequireTemplate, RatePerSender: 20}},
		{Messenger, Rules{Channel: Messenger, ThreadingTimeline: 72 * time.Hour, ReplyWindow: 24 * time.Hour, HumanAgentWindow: 7 * 24 * time.Hour, OutsideWindow: OutsideDeny}},
		{Instagram, Rules{Channel: Instagram, ThreadingTimeline: 72 * time.Hour, ReplyWindow: 24 * time.Hour, HumanAgentWindow: 7 * 24 * time.Hour, OutsideWindow: OutsideDeny, StoryMentions: true, StoryMediaTTL: 24 * time.Hour}},
		{X, Rules{Channel: X, ThreadingTimeline: 72 * time.Hour, MaxRepliesPerInbound: 5}},
		{Open, Rules{Channel: Open, ThreadingTimeline: 72 * time.Hour}},
		{"telegram", Rules{Channel: "telegram", ThreadingTimeline: 72 * time.Hour}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, d.Rules("", tt.ch)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.ch, diff)
		}
	}
}

func TestQueueOverridesOnlySetFields(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(`version: 1
defaults: {threading_timeline: 12h}
channels:
  sms:
    max_segments: 4
    opt_out: {help_reply: "Text STOP to leave."}
  x: {max_replies_per_inbound: 3}
queues:
  vip:
    channels:
      sms:
        rate: {per_sender: 5/m}
        opt_out: {stop: [ARRET]}
      x: {max_replies_per_inbound: 0}
  quiet: {channels: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	sms := p.Rules("vip", SMS)
	want := Rules{
		Channel:           SMS,
		ThreadingTimeline: 12 * time.Hour,
		MaxSegments:       4,
		RatePerSender:     5.0 / 60,
		OptOut: Keywords{
			Stop:      []string{"ARRET"},
			Start:     []string{"START", "YES", "UNSTOP"},
			Help:      []string{"HELP", "INFO"},
			HelpReply: "Text STOP to leave.",
		},
	}
	if diff := cmp.Diff(want, sms); diff != "" {
		t.Errorf("vip sms (-want +got):\n%s", diff)
	}
	if got := p.Rules("support", SMS).OptOut.Stop[0]; got != "STOP" {
		t.Errorf("support sms stop keyword = %q, want the channel's STOP", got)
	}
	if got := p.Rules("vip", X).MaxRepliesPerInbound; got != 0 {
		t.Errorf("vip x cap = %d, want 0 (off)", got)
	}
	if got := p.Rules("quiet", X).MaxRepliesPerInbound; got != 3 {
		t.Errorf("quiet x cap = %d, want the channel's 3", got)
	}
	if got := p.Rules("vip", "telegram"); got.ThreadingTimeline != 12*time.Hour || got.ReplyWindow != 0 {
		t.Errorf("unknown channel rules = %+v, want only the file's 12h timeline", got)
	}
	if got := p.Rules("vip", WhatsApp).ReplyWindow; got != 24*time.Hour {
		t.Errorf("vip whatsapp window = %v, want the built-in 24h", got)
	}
}

func TestRulesIsACopy(t *testing.T) {
	t.Parallel()
	p := Default()
	r := p.Rules("", SMS)
	r.OptOut.Stop[0] = "CHANGED"
	if got := p.Rules("", SMS).OptOut.Stop[0]; got != "STOP" {
		t.Errorf("changing returned Rules changed the policy: stop[0] = %q", got)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "15m", want: 15 * time.Minute},
		{in: "24h", want: 24 * time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1d30m", want: 24*time.Hour + 30*time.Minute},
		{in: "0", want: 0},
		{in: "-1h", want: -time.Hour},
		{in: "", bad: true},
		{in: "d", bad: true},
		{in: "1.5d", bad: true},
		{in: "1d-2h", bad: true},
		{in: "12h1d", bad: true},
		{in: "24", bad: true},
		{in: "7days", bad: true},
		{in: "999999999999d", bad: true},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseDuration(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0", 90 * time.Second: "1m30s", 24 * time.Hour: "24h", 72 * time.Hour: "72h",
		7 * 24 * time.Hour: "7d", 8*24*time.Hour + 12*time.Hour: "8d12h",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want float64
		bad  bool
	}{
		{in: "1/s", want: 1},
		{in: "20/s", want: 20},
		{in: "5/m", want: 5.0 / 60},
		{in: "360/h", want: 0.1},
		{in: "0.5/s", want: 0.5},
		{in: "0", want: 0},
		{in: "fast", bad: true},
		{in: "1/d", bad: true},
		{in: "-1/s", bad: true},
		{in: "NaN/s", bad: true},
		{in: "/s", bad: true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseRate(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	p, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := `threading timeline: 72h
sms: max 10 segments, opt-out keywords: stop STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT; start START YES UNSTOP; help HELP INFO, help reply "Reply STOP to unsubscribe.", 1/s per sender
whatsapp: reply window 24h, outside: require_template, 20/s per sender
messenger: reply window 24h, human agents until 7d, outside: deny
instagram: reply window 24h, human agents until 7d, outside: deny, story mentions on (media shown for 24h)
x: 5 replies per inbound
open: inbound typing indicators off
queue vip, sms: max 10 segments, opt-out keywords: stop STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT; start START YES UNSTOP; help HELP INFO, help reply "Reply STOP to unsubscribe.", 5/s per sender
`
	if diff := cmp.Diff(want, p.Summary()); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}
