package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReloadDiffs: what a reload applies (providers) and what it only reports
// (restart-only keys) are told apart, and a public_url that follows listen is not
// reported as a change of its own.
func TestReloadDiffs(t *testing.T) {
	parse := func(text string) *Config {
		t.Helper()
		c, err := Parse([]byte(text), "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const base = `sandbox: true
sandbox_with_providers: true
queues: [{id: support, addresses: {sms: "+15550001111"}}]
`
	running := parse(base + `providers: {twilio: {account_sid: AC1, auth_token: old}}`)
	for _, tc := range []struct {
		name          string
		next          string
		restart, prov []string
	}{
		{"same", base + `providers: {twilio: {account_sid: AC1, auth_token: old}}`, nil, nil},
		{"token", base + `providers: {twilio: {account_sid: AC1, auth_token: new}}`, nil, []string{"twilio"}},
		{"listen", base + "listen: \":9090\"\nproviders: {twilio: {account_sid: AC1, auth_token: old}}", []string{"listen"}, nil},
		{"public_url", base + "public_url: https://omnigate.example.com\nproviders: {twilio: {account_sid: AC1, auth_token: old}}",
			[]string{"public_url"}, nil},
		{"store and relay", base + "store: postgres://db/omnigate\nrelay: {workers: 2}\nproviders: {twilio: {account_sid: AC1, auth_token: old}}",
			[]string{"store", "relay"}, nil},
		{"twilio removed, meta for whatsapp", base + `providers: {whatsapp_provider: meta}`, nil, []string{"twilio", "whatsapp_provider"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := parse(tc.next)
			if diff := cmp.Diff(tc.restart, running.RestartNeeded(next)); diff != "" {
				t.Errorf("RestartNeeded (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.prov, next.Providers.Changed(running.Providers)); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
		})
	}

	// The sandbox's blocks stand in only where the file has none.
	sb := Providers{Twilio: &Twilio{AccountSID: "ACsandbox"}, X: &X{ConsumerSecret: "sandbox"}}
	got := sb.Under(running.Providers)
	if got.Twilio.AccountSID != "AC1" || got.X == nil || got.X.ConsumerSecret != "sandbox" || got.Meta != nil {
		t.Errorf("Under = %+v", got)
	}
}
