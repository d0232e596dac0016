package open_test

import (
	"testing"

	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/internal/testfiles"
)

// FuzzParseWebhook feeds signed open-messaging bodies (one message or a batch) to the
// parser: it never panics, what it accepts can be stored, and a body signed with
// another integration's secret is refused.
func FuzzParseWebhook(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.json") {
		f.Add(b)
	}
	a := newAdapter(f, "http://127.0.0.1:1", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := a.ParseWebhook(signedWebhook(t, integrationID, secret, body), body)
		if err == nil {
			adaptertest.CheckEvents(t, evs)
		}
		if _, err := a.ParseWebhook(signedWebhook(t, integrationID, "other-secret", body), body); err == nil {
			t.Fatalf("a body signed with another integration's secret was accepted")
		}
	})
}
