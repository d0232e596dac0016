package meta_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters/meta"
)

// TestFetchMediaWhatsAppAndCDN: a WhatsApp media id is looked up on Graph with the token
// and the phone-number id, then downloaded from the URL Graph answered with the same
// token; a Messenger or Instagram CDN link is fetched with no token at all.
func TestFetchMediaWhatsAppAndCDN(t *testing.T) {
	type seen struct{ path, query, auth string }
	var mu sync.Mutex
	var reqs []seen
	got := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		out := append([]seen(nil), reqs...)
		reqs = nil
		return out
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, seen{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")})
		mu.Unlock()
		switch r.URL.Path {
		case "/v23.0/556677":
			json.NewEncoder(w).Encode(map[string]string{"messaging_product": "whatsapp", "id": "556677",
				"mime_type": "image/jpeg", "sha256": "x", "file_size": "5", "url": srv.URL + "/download/556677"})
		default:
			io.WriteString(w, "bytes")
		}
	}))
	defer srv.Close()
	m, err := meta.New(meta.Config{AppSecret: "s", VerifyToken: "v", GraphURL: srv.URL, WhatsAppToken: "wa-tok",
		WhatsAppPhoneNumberIDs: map[string]string{"+15550002222": "1098765"}, PageTokens: map[string]string{"104": "page-tok"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.FetchMedia(context.Background(), srv.Client(), omnigate.WhatsApp, "+15550002222", "whatsapp-media:556677")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []seen{{"/v23.0/556677", "phone_number_id=1098765", "Bearer wa-tok"}, {"/download/556677", "", "Bearer wa-tok"}}
	if r := got(); len(r) != 2 || r[0] != want[0] || r[1] != want[1] {
		t.Errorf("Graph saw %+v, want %+v", r, want)
	}
	resp, err = m.FetchMedia(context.Background(), srv.Client(), omnigate.Messenger, "104", srv.URL+"/cdn/p.png?_nc_sig=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := got(); len(r) != 1 || r[0].auth != "" {
		t.Errorf("the CDN saw %+v, want one request without a token", r)
	}
	if _, err := m.FetchMedia(context.Background(), srv.Client(), omnigate.WhatsApp, "+15550002222", "whatsapp-media:../me"); err == nil {
		t.Error("a media id that is not a number was looked up")
	}
}
