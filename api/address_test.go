package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestNumericUserIDs: X, Messenger and Instagram address people by numeric id only; a
// screen name or a phone number is refused here rather than failing at the carrier.
func TestNumericUserIDs(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	for _, ch := range []omnigate.Channel{omnigate.X, omnigate.Messenger, omnigate.Instagram} {
		for _, to := range []string{"@jack", "+14155550100", "12a45", "1234567890123456789012345678901234", "１２３"} {
			r := a.send(t, agentKey, `{"channel":"`+string(ch)+`","to":"`+to+`","text":"hello"}`)
			if r.status != http.StatusBadRequest || r.errorCode() != "invalid_address" || !fieldRefused(r, "to") {
				t.Errorf("%s to %q: status %d: %s", ch, to, r.status, r.raw)
			}
			a.assertNothingWritten(t, ch, to)
		}
	}
}

// fieldRefused reports whether the error lists field among its problems.
func fieldRefused(r response, field string) bool {
	e, _ := r.body["error"].(map[string]any)
	fields, _ := e["fields"].([]any)
	return slices.ContainsFunc(fields, func(f any) bool {
		m, _ := f.(map[string]any)
		return m["field"] == field
	})
}

// TestMediaURLsMustBePublic: a media URL on a loopback, private or link-local host is
// refused, since the carrier or the open integration would fetch it from inside.
func TestMediaURLsMustBePublic(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://localhost:8080/admin", "http://10.0.0.5/x.png",
		"http://[::1]/x.png", "http://2130706433/x.png", "ftp://example.com/x.png"} {
		r := a.send(t, agentKey, `{"channel":"sms","to":"+14155550100","text":"see","media":[{"url":"`+u+`"}]}`)
		if r.status != http.StatusBadRequest || !fieldRefused(r, "media[0].url") {
			t.Errorf("media %s: status %d: %s", u, r.status, r.raw)
		}
		a.assertNothingWritten(t, omnigate.SMS, "+14155550100")
	}
	if r := a.send(t, agentKey, `{"channel":"sms","to":"+14155550100","text":"see","media":[{"url":"https://cdn.example.com/x.png"}]}`); r.status != http.StatusAccepted {
		t.Errorf("public media: status %d: %s", r.status, r.raw)
	}
}
