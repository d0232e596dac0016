package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestRefusedBodies: bodies encoding/json would silently accept or rewrite are refused
// with the error shape, and nothing is written.
func TestRefusedBodies(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		code        string
	}{
		{"invalid UTF-8 in text", "{\"channel\":\"sms\",\"to\":\"+14155550100\",\"text\":\"caf\xe9\"}", "application/json", 400, "invalid_request"},
		{"duplicate key", `{"channel":"sms","to":"+14155550100","text":"hello","text":"other"}`, "application/json", 400, "invalid_request"},
		{"duplicate nested key", `{"channel":"whatsapp","to":"+14155550100","template":{"name":"a","name":"b","language":"en"}}`, "application/json", 400, "invalid_request"},
		{"deep nesting", `{"channel":"sms","to":"+14155550100","text":"hi","media":[` + deep + `]}`, "application/json", 400, "invalid_request"},
		{"form body", "channel=sms&to=%2B14155550100&text=hello", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"text/plain", `{"channel":"sms","to":"+14155550100","text":"hello"}`, "text/plain", 415, "unsupported_media_type"},
		{"no content type", `{"channel":"sms","to":"+14155550100","text":"hello"}`, "", 415, "unsupported_media_type"},
		{"latin-1 charset", `{"channel":"sms","to":"+14155550100","text":"hello"}`, "application/json; charset=iso-8859-1", 415, "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAPI(t)
			r := a.send(t, agentKey, tt.body, "Content-Type", tt.contentType)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.errorCode(), tt.status, tt.code, r.raw)
			}
			a.assertNothingWritten(t, omnigate.SMS, "+14155550100")
		})
	}
	// The same bodies with a JSON content type and without the fault are accepted, so the
	// refusals above are for the fault.
	a := newTestAPI(t)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/vnd.omnigate+json"} {
		if r := a.send(t, agentKey, `{"channel":"sms","to":"+14155550100","text":"hello"}`, "Content-Type", ct); r.status != http.StatusAccepted {
			t.Errorf("Content-Type %q: status %d: %s", ct, r.status, r.raw)
		}
	}
}

// TestUnknownFieldNotEchoedInFull: the name of an unknown field is quoted back cut short,
// so the answer never reflects a large chunk of the request.
func TestUnknownFieldNotEchoedInFull(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	long := strings.Repeat("k", 10000)
	r := a.send(t, agentKey, `{"channel":"sms","to":"+14155550100","text":"hi","`+long+`":1}`)
	if r.status != 400 || r.errorCode() != "invalid_request" || len(r.raw) > 1000 {
		t.Errorf("status %d, %d bytes: %.200s", r.status, len(r.raw), r.raw)
	}
	r = a.send(t, agentKey, `{"channel":"sms","to":"+14155550100","text":"hi","colour":1}`)
	if !strings.Contains(string(r.raw), `unknown field \"colour\"`) {
		t.Errorf("the unknown field is not named: %s", r.raw)
	}
}
