package omnigate_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/omnigate/omnigate"
)

// FuzzNormalizeAddress: a normalised address is valid UTF-8, normalises to itself (so
// a stored address and the same address typed again are one contact), is E.164 for
// phone channels and digits for X, Messenger and Instagram.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"(415) 555-0100", "+14155550100", "whatsapp:+447700900123", "07700 900123", "1234567890",
		"@jack", "+1", "web-widget", " 415.555.0100 ", "+٤١٥٥٥٥٠١٠٠", "\x00"} {
		for _, ch := range omnigate.AllChannels() {
			f.Add(string(ch), s, "US")
		}
	}
	f.Add("sms", "020 7946 0018", "GB")
	f.Fuzz(func(t *testing.T, channel, raw, country string) {
		ch := omnigate.Channel(channel)
		if !ch.Valid() {
			return
		}
		n, ok := omnigate.NormalizeAddress(ch, raw, country)
		if !ok {
			return
		}
		if !utf8.ValidString(n) || n == "" {
			t.Fatalf("%s %q: normalised to %q", ch, raw, n)
		}
		switch ch {
		case omnigate.SMS, omnigate.WhatsApp:
			if n[0] != '+' || strings.Trim(n[1:], "0123456789") != "" {
				t.Fatalf("%s %q: %q is not E.164", ch, raw, n)
			}
		case omnigate.X, omnigate.Messenger, omnigate.Instagram:
			if strings.Trim(n, "0123456789") != "" {
				t.Fatalf("%s %q: %q is not a numeric id", ch, raw, n)
			}
		}
		again, ok := omnigate.NormalizeAddress(ch, n, country)
		if !ok || again != n {
			t.Fatalf("%s %q: normalised to %q, which normalises to %q, %v", ch, raw, n, again, ok)
		}
	})
}
