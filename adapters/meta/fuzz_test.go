package meta_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/internal/testfiles"
)

func seedJSON(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.json") {
		f.Add(b)
	}
}

// FuzzParseWebhook feeds signed JSON bodies to the Meta parser (Messenger, Instagram
// and WhatsApp Cloud): it never panics, and what it accepts can be stored.
func FuzzParseWebhook(f *testing.F) {
	seedJSON(f)
	m := newMeta(f, "http://127.0.0.1:1", true)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/meta", bytes.NewReader(body))
		r.Header.Set(meta.SignatureHeader, meta.Sign(appSecret, body))
		evs, err := m.ParseWebhook(r, body)
		if err == nil {
			adaptertest.CheckEvents(t, evs)
		}
	})
}

// FuzzVerify: a header verifies a body exactly when it is "sha256=" and the body's
// hex MAC (either case), so the signature of one body never passes for another.
func FuzzVerify(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.json") {
		f.Add(b, meta.Sign(appSecret, b))
		f.Add(b, strings.ToUpper(meta.Sign(appSecret, b)))
		f.Add(b, meta.Sign(appSecret, b[1:]))
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		want := meta.Sign(appSecret, body)
		h, ok := strings.CutPrefix(header, "sha256=")
		expect := ok && strings.EqualFold(h, want[len("sha256="):])
		if got := meta.Verify(appSecret, header, body); got != expect {
			t.Fatalf("Verify(%q) = %v, want %v", header, got, expect)
		}
		if !meta.Verify(appSecret, want, body) || meta.Verify("other", want, body) {
			t.Fatalf("Sign's signature does not verify its body only under its secret")
		}
	})
}
