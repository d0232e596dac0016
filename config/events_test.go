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
