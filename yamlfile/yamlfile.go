// Package yamlfile is what omnigate.yaml and policy.yaml share as strictly checked YAML
// files: the one Problem type that says what is wrong and where, and the reading of
// yaml.v3's syntax errors into one.
package yamlfile

import (
	"regexp"
	"strconv"
	"strings"
)

// Problem is one thing wrong in a YAML file. Line and Column are 1-based; 0 means
// unknown (a value built in code has no line). Path names the key, such as
// "channels.sms.max_segments" or "queues[0].addresses.sms".
type Problem struct {
	Line, Column int
	Path, Msg    string
}

// Format writes the problem as FILE:LINE:COLUMN: PATH: MSG, leaving out what is
// unknown (no file, no line, no column, no path).
func (p Problem) Format(file string) string {
	var loc []string
	if file != "" {
		loc = append(loc, file)
	}
	if p.Line > 0 {
		loc = append(loc, strconv.Itoa(p.Line))
		if p.Column > 0 {
			loc = append(loc, strconv.Itoa(p.Column))
		}
	}
	s := strings.Join(loc, ":")
	if s != "" {
		s += ": "
	}
	if p.Path != "" {
		s += p.Path + ": "
	}
	return s + p.Msg
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Syntax turns a yaml.v3 syntax error into a Problem whose message starts with
// prefix, with the line when yaml.v3 names one.
func Syntax(err error, prefix string) Problem {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Msg: prefix + m[2]}
	}
	return Problem{Msg: prefix + strings.TrimPrefix(msg, "yaml: ")}
}
