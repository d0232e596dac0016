package sandbox_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omnigate/omnigate/adapters/sandbox"
)

// TestSandboxMediaCredentials: each sandbox carrier serves media only to the
// credentials its real counterpart wants.
func TestSandboxMediaCredentials(t *testing.T) {
	poster := &sandbox.Poster{}
	defer poster.Close()
	tw := sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: "ACsandbox", AuthToken: "token"})
	mt, err := sandbox.NewMeta(sandbox.MetaConfig{AppSecret: "s", WebhookURL: "http://127.0.0.1:1/hook", Poster: poster,
		PhoneNumberIDs: map[string]string{"1001": "+15550002222"}, WhatsAppToken: "wa-token", BaseURL: "http://sandbox/meta"})
	if err != nil {
		t.Fatal(err)
	}
	xs, err := sandbox.NewX(sandbox.XConfig{ConsumerSecret: "s", WebhookURL: "http://127.0.0.1:1/hook", Poster: poster,
		Tokens: map[string]string{"x-token": "123"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		h       http.Handler
		path    string
		auth    func(r *http.Request)
		want    int
		isPhoto bool
	}{
		{"twilio basic auth", tw, "/2010-04-01/Accounts/ACsandbox/Messages/MM1/Media/ME1", func(r *http.Request) { r.SetBasicAuth("ACsandbox", "token") }, 200, true},
		{"twilio wrong token", tw, "/2010-04-01/Accounts/ACsandbox/Messages/MM1/Media/ME1", func(r *http.Request) { r.SetBasicAuth("ACsandbox", "nope") }, 401, false},
		{"twilio no auth", tw, "/2010-04-01/Accounts/ACsandbox/Messages/MM1/Media/ME1", nil, 401, false},
		{"whatsapp media url", mt, "/v23.0/4242?phone_number_id=1001", bearer("wa-token"), 200, false},
		{"whatsapp media url, other token", mt, "/v23.0/4242", bearer("page-token"), 401, false},
		{"whatsapp media url, other number", mt, "/v23.0/4242?phone_number_id=9", bearer("wa-token"), 400, false},
		{"whatsapp download", mt, "/whatsapp-media/4242", bearer("wa-token"), 200, true},
		{"whatsapp download, no token", mt, "/whatsapp-media/4242", nil, 401, false},
		{"meta cdn", mt, "/cdn/abc.png", nil, 200, true},
		{"x media", xs, "/1.1/ton/data/dm/1/2/photo.png", bearer("x-token"), 200, true},
		{"x media, unknown token", xs, "/1.1/ton/data/dm/1/2/photo.png", bearer("other"), 401, false},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != nil {
			tc.auth(req)
		}
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, body, tc.want)
		}
		if tc.isPhoto != bytes.Equal(body, sandbox.Photo()) {
			t.Errorf("%s: photo served = %v, want %v", tc.name, !tc.isPhoto, tc.isPhoto)
		}
	}
}

func bearer(tok string) func(r *http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}
