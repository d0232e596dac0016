package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/yamlfile"
)

// Problem is one thing wrong in a policy file. Line and Column are 1-based; 0 means
// unknown. Path names the key, such as "channels.sms.max_segments".
type Problem = yamlfile.Problem

// LoadError lists every problem found in a policy file, in file order.
type LoadError struct {
	File     string
	Problems []Problem
}

// Error prints one "file:line:col: path: msg" per problem and line; parts that are
// unknown (no file name, no column, no path) are left out.
func (e *LoadError) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, p.Format(e.File))
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses the policy file at path. A file that cannot be read is a plain
// error; a file that can be read but is invalid is a *LoadError naming path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return parseFile(path, data)
}

// Parse decodes policy YAML strictly: unknown keys, unknown channels, keys a channel
// does not support, bad values and out-of-range values are all errors. It reports
// every problem it finds, not only the first, as a *LoadError. Rules the data leaves out
// keep their built-in values (see Default).
func Parse(data []byte) (*Policy, error) {
	var ps parser
	f := ps.document(data)
	// Compile even a file with problems: values that failed were left out, and the
	// checks that need merged rules may find more to report.
	p, problems := compile(f)
	ps.problems = append(ps.problems, problems...)
	if len(ps.problems) == 0 {
		return p, nil
	}
	slices.SortStableFunc(ps.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return nil, &LoadError{Problems: ps.problems}
}

// file is what a policy file sets; nil and absent mean "keep the built-in value".
type file struct {
	timeline *time.Duration
	channels map[omnigate.Channel]*overrides
	queues   map[string]map[omnigate.Channel]*overrides
}

// overrides are the rules one channel block sets (channels.<ch> or
// queues.<id>.channels.<ch>).
type overrides struct {
	replyWindow, humanAgentWindow, storyMediaTTL *time.Duration
	outsideWindow, helpReply                     *string
	maxReplies, maxSegments                      *int
	stop, start, help                            *[]string
	rate                                         *float64
	storyMentions, typing                        *bool
	// nodes holds each key's value node, to place problems found after merging.
	nodes map[string]*yaml.Node
	path  string
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func (o *overrides) apply(r *Rules) {
	set(&r.ReplyWindow, o.replyWindow)
	set(&r.HumanAgentWindow, o.humanAgentWindow)
	set(&r.OutsideWindow, o.outsideWindow)
	set(&r.MaxRepliesPerInbound, o.maxReplies)
	set(&r.MaxSegments, o.maxSegments)
	set(&r.OptOut.Stop, o.stop)
	set(&r.OptOut.Start, o.start)
	set(&r.OptOut.Help, o.help)
	set(&r.OptOut.HelpReply, o.helpReply)
	set(&r.RatePerSender, o.rate)
	set(&r.StoryMentions, o.storyMentions)
	set(&r.StoryMediaTTL, o.storyMediaTTL)
	set(&r.InboundTypingIndicators, o.typing)
}

// check validates the merged rules r of the block o; a problem is reported only when o
// sets one of the keys involved, so an inherited mistake is reported once, where it is.
func (o *overrides) check(r Rules) []Problem {
	if r.ReplyWindow <= 0 || r.HumanAgentWindow <= 0 || r.HumanAgentWindow >= r.ReplyWindow {
		return nil
	}
	at := func(key, msg string) []Problem {
		n := o.nodes[key]
		return []Problem{{Line: n.Line, Column: n.Column, Path: o.path + "." + key, Msg: msg}}
	}
	if o.nodes["human_agent_window"] != nil {
		return at("human_agent_window", fmt.Sprintf("human_agent_window (%s) must not be shorter than reply_window (%s)",
			formatDuration(r.HumanAgentWindow), formatDuration(r.ReplyWindow)))
	}
	if o.nodes["reply_window"] != nil {
		return at("reply_window", fmt.Sprintf("reply_window (%s) must not be longer than human_agent_window (%s)",
			formatDuration(r.ReplyWindow), formatDuration(r.HumanAgentWindow)))
	}
	return nil
}

// compile merges f over the built-in rules. The problems it returns are those only
// visible after merging.
func compile(f *file) (*Policy, []Problem) {
	var problems []Problem
	p := &Policy{timeline: maxThreadingTimeline, channels: map[omnigate.Channel]Rules{}, queues: map[string]map[omnigate.Channel]Rules{}}
	set(&p.timeline, f.timeline)
	for _, ch := range Channels() {
		r := builtin(ch)
		r.ThreadingTimeline = p.timeline
		if o := f.channels[ch]; o != nil {
			o.apply(&r)
			problems = append(problems, o.check(r)...)
		}
		p.channels[ch] = r
	}
	for id, q := range f.queues {
		rules := map[omnigate.Channel]Rules{}
		for ch, o := range q {
			r := p.channels[ch].clone()
			o.apply(&r)
			problems = append(problems, o.check(r)...)
			rules[ch] = r
		}
		p.queues[id] = rules
	}
	return p, problems
}

// channelKeys lists the keys a channel block may set and the channels where each means
// something; a key set where Decide would ignore it is an error, not a silent no-op.
var channelKeys = map[string][]omnigate.Channel{
	"reply_window":              {WhatsApp, Messenger, Instagram},
	"human_agent_window":        {Messenger, Instagram},
	"outside_window":            {WhatsApp, Messenger, Instagram},
	"max_replies_per_inbound":   {X},
	"max_segments":              {SMS},
	"opt_out":                   {SMS, WhatsApp},
	"rate":                      {SMS, WhatsApp, Messenger, Instagram, X, Open},
	"story_mentions":            {Instagram},
	"story_media_ttl":           {Instagram},
	"inbound_typing_indicators": {Messenger, Instagram, X, Open},
}

// parser walks the YAML node tree, collecting every problem it meets.
type parser struct {
	problems []Problem
}

func (ps *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	ps.problems = append(ps.problems, Problem{Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// syntax records a YAML syntax error, with its line when yaml.v3 gives one.
func (ps *parser) syntax(err error) {
	ps.problems = append(ps.problems, yamlfile.Syntax(err, "YAML syntax: "))
}

func (ps *parser) document(data []byte) *file {
	f := &file{channels: map[omnigate.Channel]*overrides{}, queues: map[string]map[omnigate.Channel]*overrides{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.problems = append(ps.problems, Problem{Line: 1, Column: 1, Path: "version", Msg: "required (the file is empty; start it with version: 1)"})
		} else {
			ps.syntax(err)
		}
		return f
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		ps.errorf(&extra, "", "only one YAML document is allowed")
	} else if !errors.Is(err, io.EOF) {
		ps.syntax(err)
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		ps.errorf(root, "version", "required (the file is empty; start it with version: 1)")
		return f
	}
	if root.Kind != yaml.MappingNode {
		ps.errorf(root, "", "a policy must be a mapping of keys (version, defaults, channels, queues)")
		return f
	}
	versionSeen := false
	ps.each(root, "", func(key string, k, v *yaml.Node, path string) {
		switch key {
		case "version":
			versionSeen = true
			var n int
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&n) != nil {
				ps.errorf(v, path, "must be 1")
			} else if n != 1 {
				ps.errorf(v, path, "unsupported version %d (want 1)", n)
			}
		case "defaults":
			ps.each(v, path, func(key string, k, v *yaml.Node, path string) {
				if key != "threading_timeline" {
					ps.errorf(k, path, "unknown key")
					return
				}
				d, ok := ps.duration(v, path)
				if ok && (d < 0 || d > maxThreadingTimeline) {
					ps.errorf(v, path, "%s is out of range (0 to 72h)", v.Value)
					return
				}
				if ok {
					f.timeline = &d
				}
			})
		case "channels":
			ps.channels(v, path, f.channels)
		case "queues":
			ps.each(v, path, func(id string, k, v *yaml.Node, path string) {
				if strings.TrimSpace(id) == "" {
					ps.errorf(k, path, "queue id must not be empty")
					return
				}
				q := map[omnigate.Channel]*overrides{}
				ps.each(v, path, func(key string, k, v *yaml.Node, path string) {
					if key != "channels" {
						ps.errorf(k, path, "unknown key")
						return
					}
					ps.channels(v, path, q)
				})
				f.queues[id] = q
			})
		default:
			ps.errorf(k, path, "unknown key")
		}
	})
	if !versionSeen {
		ps.errorf(root, "version", "required (version: 1)")
	}
	return f
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// each calls fn for every key of the mapping n, in order. A null value counts as an
// empty mapping; anything else that is not a mapping, and duplicate keys, are problems.
func (ps *parser) each(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node, path string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		ps.errorf(n, path, "must be a mapping")
		return
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			ps.errorf(k, path, "keys must be plain strings")
			continue
		}
		kpath := join(path, k.Value)
		if line, dup := first[k.Value]; dup {
			ps.errorf(k, kpath, "duplicate key (first at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		fn(k.Value, k, v, kpath)
	}
}

// channels reads a channels mapping into into.
func (ps *parser) channels(n *yaml.Node, path string, into map[omnigate.Channel]*overrides) {
	ps.each(n, path, func(name string, k, v *yaml.Node, path string) {
		ch := omnigate.Channel(name)
		if !ch.Valid() {
			ps.errorf(k, path, "unknown channel (want one of %s)", joinChannels(Channels()))
			return
		}
		into[ch] = ps.channel(ch, v, path)
	})
}

// channel reads one channel block.
func (ps *parser) channel(ch omnigate.Channel, n *yaml.Node, path string) *overrides {
	o := &overrides{nodes: map[string]*yaml.Node{}, path: path}
	ps.each(n, path, func(key string, k, v *yaml.Node, path string) {
		where, known := channelKeys[key]
		if !known {
			ps.errorf(k, path, "unknown key")
			return
		}
		if !slices.Contains(where, ch) {
			ps.errorf(k, path, "not supported on %s (only on %s)", ch, joinChannels(where))
			return
		}
		o.nodes[key] = v
		switch key {
		case "reply_window":
			o.replyWindow = ps.window(v, path)
		case "human_agent_window":
			o.humanAgentWindow = ps.window(v, path)
		case "story_media_ttl":
			o.storyMediaTTL = ps.window(v, path)
		case "outside_window":
			if s, ok := ps.str(v, path); ok {
				if s != OutsideRequireTemplate && s != OutsideDeny {
					ps.errorf(v, path, "must be %s or %s", OutsideRequireTemplate, OutsideDeny)
				} else {
					o.outsideWindow = &s
				}
			}
		case "max_replies_per_inbound":
			o.maxReplies = ps.count(v, path)
		case "max_segments":
			o.maxSegments = ps.count(v, path)
		case "story_mentions":
			o.storyMentions = ps.boolean(v, path)
		case "inbound_typing_indicators":
			o.typing = ps.boolean(v, path)
		case "rate":
			ps.each(v, path, func(key string, k, v *yaml.Node, path string) {
				if key != "per_sender" {
					ps.errorf(k, path, "unknown key")
					return
				}
				if s, ok := ps.str(v, path); ok {
					if r, err := parseRate(s); err != nil {
						ps.errorf(v, path, "%v", err)
					} else {
						o.rate = &r
					}
				}
			})
		case "opt_out":
			ps.optOut(o, v, path)
		}
	})
	return o
}

func (ps *parser) optOut(o *overrides, n *yaml.Node, path string) {
	owner := map[string]string{} // upper-cased keyword → list it first appeared in
	ps.each(n, path, func(key string, k, v *yaml.Node, path string) {
		switch key {
		case "stop", "start", "help":
			words := ps.keywords(v, path, key, owner)
			switch key {
			case "stop":
				o.stop = words
			case "start":
				o.start = words
			case "help":
				o.help = words
			}
		case "help_reply":
			if s, ok := ps.str(v, path); ok {
				o.helpReply = &s
			}
		default:
			ps.errorf(k, path, "unknown key")
		}
	})
}

// keywords reads a list of single-word keywords; a word in two lists of one block is
// ambiguous and reported.
func (ps *parser) keywords(n *yaml.Node, path, list string, owner map[string]string) *[]string {
	if isNull(n) {
		return &[]string{}
	}
	if n.Kind != yaml.SequenceNode {
		ps.errorf(n, path, "must be a list of keywords")
		return nil
	}
	words := []string{}
	for i, item := range n.Content {
		item = resolve(item)
		ipath := fmt.Sprintf("%s[%d]", path, i)
		w, ok := ps.str(item, ipath)
		if !ok {
			continue
		}
		if w == "" || strings.ContainsFunc(w, func(r rune) bool { return strings.ContainsRune(" \t\r\n\v\f", r) }) {
			ps.errorf(item, ipath, "keyword %q must be a single word", w)
			continue
		}
		key := strings.ToUpper(w)
		if prev, dup := owner[key]; dup {
			ps.errorf(item, ipath, "keyword %q is already in %s", w, prev)
			continue
		}
		owner[key] = list
		words = append(words, w)
	}
	return &words
}

func (ps *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		ps.errorf(n, path, "must be a string")
		return "", false
	}
	return n.Value, true
}

func (ps *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		ps.errorf(n, path, "must be a duration such as 90s, 15m, 24h or 7d")
		return 0, false
	}
	d, err := parseDuration(n.Value)
	if err != nil {
		ps.errorf(n, path, "invalid duration %q (want e.g. 90s, 15m, 24h, 7d)", n.Value)
		return 0, false
	}
	return d, true
}

// window reads a duration that must not be negative.
func (ps *parser) window(n *yaml.Node, path string) *time.Duration {
	d, ok := ps.duration(n, path)
	if !ok {
		return nil
	}
	if d < 0 {
		ps.errorf(n, path, "must not be negative")
		return nil
	}
	return &d
}

func (ps *parser) count(n *yaml.Node, path string) *int {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		ps.errorf(n, path, "must be a whole number")
		return nil
	}
	if v < 0 {
		ps.errorf(n, path, "must not be negative")
		return nil
	}
	return &v
}

func (ps *parser) boolean(n *yaml.Node, path string) *bool {
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		ps.errorf(n, path, "must be true or false")
		return nil
	}
	return &v
}

// joinChannels lists channels for a message, comma-separated.
func joinChannels(chs []omnigate.Channel) string {
	names := make([]string, len(chs))
	for i, c := range chs {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
