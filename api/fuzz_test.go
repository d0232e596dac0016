package api

import (
	"encoding/json"
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
		n, ok := NormalizeAddress(ch, raw, country)
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
		again, ok := NormalizeAddress(ch, n, country)
		if !ok || again != n {
			t.Fatalf("%s %q: normalised to %q, which normalises to %q, %v", ch, raw, n, again, ok)
		}
	})
}

// FuzzCheckJSON: whatever checkJSON accepts, encoding/json reads without rewriting
// (valid UTF-8) and with every key once; it never panics.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"channel":"sms","to":"+14155550100","text":"hi"}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`,
		`[{"a":1},{"a":1}]`, `{"a":[{"b":1}],"b":{"a":1}}`, "\"caf\xe9\"", strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"a":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkJSON(body) != nil || !json.Valid(body) {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("invalid UTF-8 accepted")
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber() // 1E700 is valid JSON, not a float64
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if depth(v) > MaxDepth {
			t.Fatalf("nesting %d accepted", depth(v))
		}
		// Re-encoding keeps every key: a dropped duplicate would make it shorter in keys.
		if countKeys(body) != countDecodedKeys(v) {
			t.Fatalf("%s: a duplicate key was accepted", body)
		}
	})
}

func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func countDecodedKeys(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			n += 1 + countDecodedKeys(e)
		}
	case []any:
		for _, e := range x {
			n += countDecodedKeys(e)
		}
	}
	return n
}

// countKeys counts object keys in a valid JSON document, token by token: in an
// object, tokens alternate between a key and a value.
func countKeys(body []byte) int {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	type frame struct{ object, wantKey bool }
	var stack []frame
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if k := len(stack) - 1; k >= 0 && stack[k].object {
			if _, isKey := tok.(string); isKey && stack[k].wantKey {
				stack[k].wantKey = false
				n++
				continue
			}
			stack[k].wantKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
