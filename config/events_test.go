package config

import (
	"strings"
	"testing"
)

// TestEventsPath: a path as events.url names the sandbox's platform on omnigate's own
// listener, so it is accepted only with the sandbox on.
func TestEventsPath(t *testing.T) {
	const base = `queues: [{id: support, addresses: {open: web}}]
events: {url: /sandbox/events, secret: s}
`
	if _, err := Parse([]byte(base+"sandbox: true\n"), ""); err != nil {
		t.Errorf("with the sandbox: %v", err)
	}
	_, err := Parse([]byte(base+"providers: {open: {integrations: {web: {outbound_url: \"https://example.com/o\", secret: x}}}}\n"), "")
	if err == nil || !strings.Contains(err.Error(), "events.url: is a path") {
		t.Errorf("without the sandbox: %v", err)
	}
}

// TestEventsBatch: events.batch defaults to 1 (each event posted alone), takes 1 to
// 500, and a value outside that is refused at its line, with or without events.url.
func TestEventsBatch(t *testing.T) {
	t.Parallel()
	const base = "sandbox: true\nqueues: [{id: support, addresses: {open: web}}]\n"
	const withURL = "events:\n  url: /sandbox/events\n  secret: s\n"
	tests := []struct {
		name, text string
		want       int    // the batch after Parse, when it succeeds
		problem    string // the whole message, when it fails
	}{
		{"unset", withURL, 1, ""},
		{"unset without url", "", 1, ""},
		{"one", withURL + "  batch: 1\n", 1, ""},
		{"hundred", withURL + "  batch: 100\n", 100, ""},
		{"most", withURL + "  batch: 500\n", 500, ""},
		{"zero", withURL + "  batch: 0\n", 0, "omnigate.yaml:6: events.batch: must be from 1 (each event posted alone) to 500, got 0"},
		{"negative", withURL + "  batch: -3\n", 0, "omnigate.yaml:6: events.batch: must be from 1 (each event posted alone) to 500, got -3"},
		{"too many", withURL + "  batch: 501\n", 0, "omnigate.yaml:6: events.batch: must be from 1 (each event posted alone) to 500, got 501"},
		{"without url", "events: {batch: 1000}\n", 0, "omnigate.yaml:3: events.batch: must be from 1 (each event posted alone) to 500, got 1000"},
		{"not a number", withURL + "  batch: lots\n", 0, "omnigate.yaml:6: events.batch: must be a whole number"},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(base+tt.text), "")
		if tt.problem == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			} else if c.Events.Batch != tt.want {
				t.Errorf("%s: batch %d, want %d", tt.name, c.Events.Batch, tt.want)
			}
			continue
		}
		if err == nil || err.Error() != tt.problem {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.problem)
		}
	}
}
