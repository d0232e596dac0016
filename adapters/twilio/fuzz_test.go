package twilio_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/internal/testfiles"
)

// FuzzParseWebhook feeds form bodies, correctly signed, to both webhook paths: the
// parser never panics, what it accepts can be stored, and the same body signed for
// another body is refused as a bad signature.
func FuzzParseWebhook(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.form") {
		f.Add(b, false)
		f.Add(b, true)
	}
	a := newAdapter(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, body []byte, status bool) {
		target := "/webhooks/twilio"
		if status {
			target = "/webhooks/twilio/status?mid=msg-1"
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			form = url.Values{}
		}
		first := url.Values{}
		for k, vs := range form {
			first.Set(k, vs[0]) // what Twilio signs: it never repeats a name
		}
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
		r.Header.Set("X-Twilio-Signature", sign(authToken, publicURL+target, first))
		evs, err := a.ParseWebhook(r, body)
		if err == nil {
			adaptertest.CheckEvents(t, evs)
		}
		// An extra field the signature did not cover is refused.
		extra := string(body) + "&ZzForged=1"
		forged := httptest.NewRequest(http.MethodPost, target, strings.NewReader(extra))
		forged.Header.Set("X-Twilio-Signature", sign(authToken, publicURL+target, first))
		if _, err := a.ParseWebhook(forged, []byte(extra)); err == nil && !form.Has("ZzForged") {
			t.Errorf("a body with an extra field passed the original's signature")
		}
	})
}
