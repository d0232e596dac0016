package yamlfile_test

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/omnigate/omnigate/yamlfile"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		p    yamlfile.Problem
		file string
		want string
	}{
		{yamlfile.Problem{Line: 3, Column: 9, Path: "queues.vip", Msg: "unknown key"}, "policy.yaml", "policy.yaml:3:9: queues.vip: unknown key"},
		{yamlfile.Problem{Line: 12, Path: "listen", Msg: "required"}, "omnigate.yaml", "omnigate.yaml:12: listen: required"},
		{yamlfile.Problem{Column: 4, Path: "version", Msg: "required"}, "", "version: required"},
		{yamlfile.Problem{Msg: "empty"}, "", "empty"},
	} {
		if got := tc.p.Format(tc.file); got != tc.want {
			t.Errorf("Format(%q) = %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestSyntax(t *testing.T) {
	var v any
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &v)
	if err == nil {
		t.Fatal("a broken document parsed")
	}
	p := yamlfile.Syntax(err, "invalid YAML: ")
	if p.Line == 0 || len(p.Msg) <= len("invalid YAML: ") || p.Msg[:len("invalid YAML: ")] != "invalid YAML: " {
		t.Errorf("Syntax = %+v, want a line and the prefixed message", p)
	}
}
