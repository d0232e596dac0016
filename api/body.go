package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply a request body's arrays and objects may nest. No endpoint's
// body nests more than four levels; the limit keeps a hostile body from costing more
// than its size.
const MaxDepth = 32

// jsonContentType reports whether a Content-Type names JSON: application/json or an
// application/*+json type, with a charset only if it is UTF-8.
func jsonContentType(v string) bool {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// checkJSON refuses what encoding/json would silently accept and rewrite: invalid UTF-8
// (decoded as U+FFFD), a key given twice in one object (the last one wins, so two
// readers of the same body could disagree), and nesting deeper than MaxDepth. A syntax
// error is left to the caller's decode, which reports its offset.
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// Each open container: for objects the keys seen so far, for arrays nil.
	type frame struct {
		keys   map[string]bool
		expect bool // an object expecting a key next
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // EOF, or a syntax error the decode reports
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].keys != nil && stack[top].expect {
			if k, ok := tok.(string); ok {
				if stack[top].keys[k] {
					return errors.New("duplicate key " + quoteKey(k))
				}
				stack[top].keys[k] = true
				stack[top].expect = false
				continue
			}
		}
		if top >= 0 && stack[top].keys != nil {
			stack[top].expect = true // a value was read (or the object closes)
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, expect: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > MaxDepth {
			return errors.New("the body nests deeper than 32 levels")
		}
	}
}

// quoteKey quotes a key for an error message, cut short: the key came from the caller.
func quoteKey(k string) string {
	if len(k) > 64 {
		k = k[:64] + "…"
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// readBody reads a JSON body of at most MaxBody bytes into v, rejecting other content
// types (415), invalid UTF-8, duplicate keys, deep nesting and unknown fields (400). It
// answers the error itself and reports whether to go on.
func readBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, bool) {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the body as JSON with Content-Type: application/json", nil)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "request bodies are limited to 1 MiB", nil)
		} else {
			writeError(w, http.StatusBadRequest, "invalid_request", "could not read the request body", nil)
		}
		return nil, false
	}
	if err := checkJSON(body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not valid JSON for this endpoint: "+jsonProblem(err), nil)
		return nil, false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body has data after the JSON object", nil)
		return nil, false
	}
	return body, true
}
