package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/omnigate/omnigate/yamlfile"
)

// Load reads the configuration file at path, decodes and validates it (see Parse), and
// records its absolute path and folder. Relative paths inside it resolve against that
// folder. A validation failure is a *ValidationError whose lines start with path.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parse(data, filepath.Dir(abs), os.LookupEnv)
	if ve, ok := errors.AsType[*ValidationError](err); ok {
		ve.File = filepath.Clean(path)
	}
	if err != nil {
		return nil, err
	}
	c.Path = abs
	return c, nil
}

// Parse decodes and validates a configuration document. ${NAME} references expand from
// the environment inside scalar values; relative paths resolve against dir (left as
// written when dir is empty). The result is nil whenever the error is not: a caller
// reloading keeps its running configuration. A decoding or validation failure is a
// *ValidationError listing every problem found.
func Parse(data []byte, dir string) (*Config, error) {
	return parse(data, dir, os.LookupEnv)
}

func parse(data []byte, dir string, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ValidationError{Problems: []Problem{syntaxProblem(err)}}
	}
	d := &decoder{lookup: lookup, lines: map[string]int{}, expanded: map[*yaml.Node]bool{}}
	c := &Config{Dir: dir}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		d.walk(doc.Content[0], reflect.TypeFor[Config](), "")
		if err := doc.Content[0].Decode(c); err != nil && len(d.problems) == 0 {
			// The walk mirrors the decoder; this is a safety net, not a path we expect.
			d.problems = append(d.problems, Problem{Msg: "cannot decode: " + err.Error()})
		}
	}
	c.lines = d.lines
	c.ApplyDefaults()
	c.resolvePaths(dir)

	problems := d.problems
	if err := c.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		// A value that failed to decode is zero now; don't also call it missing.
		for _, p := range ve.Problems {
			if !coveredBy(p.Path, d.problems) {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &ValidationError{Problems: problems}
	}
	return c, nil
}

func syntaxProblem(err error) Problem { return yamlfile.Syntax(err, "invalid YAML: ") }

// coveredBy reports whether path is, or lies under, the path of one of the problems.
func coveredBy(path string, problems []Problem) bool {
	for _, p := range problems {
		if p.Path == path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

// decoder walks the node tree alongside the Go types it will decode into, so that every
// unknown key, duplicate key and mistyped value is reported (yaml.v3's KnownFields stops
// at the first), and expands ${NAME} in scalar values before they are decoded.
type decoder struct {
	lookup   func(string) (string, bool)
	lines    map[string]int // path -> line, for every key written with a non-null value
	problems []Problem
	expanded map[*yaml.Node]bool // an aliased node is expanded once, never its result again
}

func (d *decoder) add(path string, line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[Duration]()

func (d *decoder) walk(n *yaml.Node, t reflect.Type, path string) {
	n = deref(n)
	if isNull(n) {
		return // same as absent: defaults apply
	}
	if _, ok := d.lines[path]; !ok && path != "" {
		d.lines[path] = n.Line
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		var v Duration
		if d.scalar(n, path, false) && n.Decode(&v) != nil {
			d.reject(n, path, "%s", errDuration)
		}
	case t.Kind() == reflect.Struct:
		d.structure(n, t, path)
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.reject(n, path, "must be a mapping of key: value")
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "" {
				d.add(path, k.Line, "keys must be non-empty text")
				continue
			}
			p := keyPath(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				d.add(p, k.Line, "duplicate key %q (first at line %d)", k.Value, first)
				continue
			}
			seen[k.Value] = k.Line
			d.walkEntry(k, v, t.Elem(), p)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.reject(n, path, "must be a list")
			return
		}
		for i, item := range n.Content {
			d.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.String:
		d.scalar(n, path, true)
	case t.Kind() == reflect.Bool:
		var v bool
		if d.scalar(n, path, false) && n.Decode(&v) != nil {
			d.reject(n, path, "must be true or false")
		}
	case t.Kind() == reflect.Int:
		var v int
		if d.scalar(n, path, false) && n.Decode(&v) != nil {
			d.reject(n, path, "must be a whole number")
		}
	default:
		panic("config: no decoding rule for " + t.String()) // a new field type needs one
	}
}

// reject records a problem with a value and blanks the node, so that decoding the whole
// tree afterwards leaves that field zero instead of stopping at it (yaml.v3 aborts on
// an Unmarshaler's error) and every other field is still decoded and validated.
func (d *decoder) reject(n *yaml.Node, path, format string, args ...any) {
	d.add(path, n.Line, format, args...)
	blank(n)
}

func blank(n *yaml.Node) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func (d *decoder) structure(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		d.reject(n, path, "must be a mapping of key: value")
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" { // merge key: same fields
			merged := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				d.walk(m, t, path)
			}
			continue
		}
		p := keyPath(path, k.Value)
		ft, known := fields[k.Value]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.add(path, k.Line, "keys must be plain text")
		case !known:
			d.add(p, k.Line, "unknown key %q (known keys: %s)", k.Value, strings.Join(names, ", "))
		case seen[k.Value] != 0:
			d.add(p, k.Line, "duplicate key %q (first at line %d)", k.Value, seen[k.Value])
		default:
			seen[k.Value] = k.Line
			d.walkEntry(k, v, ft, p)
		}
	}
}

// walkEntry walks the value of a mapping entry; its path points at the key's line, where
// an operator looks for it.
func (d *decoder) walkEntry(k, v *yaml.Node, t reflect.Type, path string) {
	if !isNull(deref(v)) {
		d.lines[path] = k.Line
	}
	d.walk(v, t, path)
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// scalar checks that n is a single value and expands ${NAME} in it. It reports whether
// the value can be decoded further.
func (d *decoder) scalar(n *yaml.Node, path string, text bool) bool {
	if n.Kind != yaml.ScalarNode {
		d.reject(n, path, "must be a single value, not a list or mapping")
		return false
	}
	if d.expanded[n] || !strings.Contains(n.Value, "$") {
		return true
	}
	d.expanded[n] = true
	v, missing, err := expand(n.Value, d.lookup)
	for _, name := range missing {
		d.add(path, n.Line, "environment variable %s is not set", name)
	}
	if err != nil {
		d.add(path, n.Line, "%v", err)
	}
	if len(missing) > 0 || err != nil {
		blank(n)
		return false
	}
	if v == n.Value {
		return true
	}
	n.Value = v
	if text {
		n.Tag = "!!str" // whatever the variable holds, it stays text
	} else {
		n.Tag, n.Style = "", 0 // "${WORKERS}" quoted or not: resolve 12 as a number
	}
	return true
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${NAME} with the variable's value. "$${" writes a literal "${"; any
// other "$" is literal. It returns the names of unset variables, in order, once each.
// Messages name variables, never values: a value may be a secret.
func expand(s string, lookup func(string) (string, bool)) (string, []string, error) {
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), missing, nil
		}
		if i > 0 && s[i-1] == '$' { // "$${": escaped
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", missing, errors.New("unterminated ${ (write $${ for a literal ${)")
		}
		name := s[i+2 : i+end]
		if !envName.MatchString(name) {
			return "", missing, fmt.Errorf("invalid environment variable name %q in ${...}", name)
		}
		v, ok := lookup(name)
		if !ok && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_+\-/:*@]+$`)

// keyPath extends path with a mapping key: "a.b", or a["b.c"] when the key would be
// ambiguous written plainly.
func keyPath(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// parentPath is the path one level up: "queues[0].addresses" for
// "queues[0].addresses.sms", "" at the top.
func parentPath(path string) string {
	if strings.HasSuffix(path, `"]`) {
		if i := strings.LastIndex(path, `["`); i >= 0 {
			return path[:i]
		}
	}
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
