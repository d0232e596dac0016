package x_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/adapters/x"
	"github.com/omnigate/omnigate/internal/testfiles"
)

func seedJSON(f *testing.F, extra ...any) {
	for _, b := range testfiles.Files(f, "*.json") {
		f.Add(append([]any{b}, extra...)...)
	}
}

// FuzzParseWebhook feeds signed Account Activity bodies to the X parser: it never
// panics, and what it accepts can be stored.
func FuzzParseWebhook(f *testing.F) {
	seedJSON(f)
	a := newX(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/x", bytes.NewReader(body))
		r.Header.Set(x.SignatureHeader, x.Sign(secret, body))
		evs, err := a.ParseWebhook(r, body)
		if err == nil {
			adaptertest.CheckEvents(t, evs)
		}
	})
}

// FuzzCRC: whatever crc_token is asked for, the CRC endpoint never answers a signature
// that the webhook parser would accept for a body, and answers X-shaped tokens with
// their HMAC.
func FuzzCRC(f *testing.F) {
	seedJSON(f)
	f.Add([]byte("9b4507b3-9040-4669-9ca3-6b94edb50553"))
	a := newX(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, token []byte) {
		w := httptest.NewRecorder()
		a.Challenge(w, httptest.NewRequest(http.MethodGet, "/webhooks/x?crc_token="+url.QueryEscape(string(token)), nil))
		answered := w.Code == http.StatusOK
		if answered != x.CRCToken(string(token)) {
			t.Fatalf("crc_token %q: status %d, CRCToken %v", token, w.Code, x.CRCToken(string(token)))
		}
		if !answered {
			if strings.Contains(w.Body.String(), x.Sign(secret, token)) {
				t.Fatalf("a refused token's HMAC was answered")
			}
			return
		}
		r := httptest.NewRequest(http.MethodPost, "/webhooks/x", bytes.NewReader(token))
		r.Header.Set(x.SignatureHeader, x.Sign(secret, token))
		if _, err := a.ParseWebhook(r, token); err == nil {
			t.Fatalf("crc_token %q is also a webhook body the parser accepts", token)
		}
	})
}

// FuzzVerify: a header verifies a body exactly when it is "sha256=" and the body's
// base64 MAC.
func FuzzVerify(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.json") {
		f.Add(b, x.Sign(secret, b))
		f.Add(b, x.Sign(secret, b[1:]))
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		want := x.Sign(secret, body)
		got := x.Verify(secret, header, body)
		// base64 decoding skips CR and LF, so a header may differ from want by them.
		same := strings.NewReplacer("\r", "", "\n", "").Replace(header) == want
		if got != same {
			t.Fatalf("Verify(%q) = %v, want %v", header, got, same)
		}
	})
}
