package api

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

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
