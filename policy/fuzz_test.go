package policy_test

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/omnigate/omnigate/internal/testfiles"
	"github.com/omnigate/omnigate/policy"
)

// FuzzParse feeds YAML documents to the policy loader: it never panics, and it returns
// either a policy or an error, never both or neither.
func FuzzParse(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.yaml") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of a policy and an error", p, err)
		}
	})
}

// FuzzSegments checks the GSM-7 segmenter against bounds any correct count meets: no
// segment for empty text, GSM-7 only for text of the GSM 03.38 tables, at least the
// units divided by a part's capacity, and never more segments than characters.
func FuzzSegments(f *testing.F) {
	for _, s := range []string{"", "Hello", strings.Repeat("a", 160), strings.Repeat("a", 161), strings.Repeat("€", 80),
		strings.Repeat("😀", 35), "Your order shipped. Any questions?", "Grüße aus Köln", "{[~]}", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		n, enc := policy.Segments(text)
		runes := []rune(text)
		if text == "" {
			if n != 0 {
				t.Fatalf("empty text: %d segments", n)
			}
			return
		}
		if n < 1 || n > len(runes) {
			t.Fatalf("%q: %d segments for %d characters", text, n, len(runes))
		}
		var units, single, part int
		switch enc {
		case policy.EncodingGSM7:
			single, part = 160, 153
			for _, r := range runes {
				switch {
				case strings.ContainsRune(gsmExtension, r):
					units += 2
				case strings.ContainsRune(gsmBasic, r):
					units++
				default:
					t.Fatalf("%q: GSM-7 for a text with %q", text, r)
				}
			}
		case policy.EncodingUCS2:
			single, part = 70, 67
			units = len(utf16.Encode(runes))
		default:
			t.Fatalf("unknown encoding %q", enc)
		}
		switch {
		case units <= single && n != 1:
			t.Fatalf("%q: %d units need 1 segment, got %d", text, units, n)
		case units > single && (n < (units+part-1)/part || n == 1):
			t.Fatalf("%q: %d units need at least %d segments, got %d", text, units, (units+part-1)/part, n)
		}
	})
}

// The GSM 03.38 tables, written out here independently of the package's own.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)
