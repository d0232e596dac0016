package twilio_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/twilio"
)

// TestFetchMediaCredentialsStayWithTwilio: media on Twilio's API host is fetched with
// basic auth; a URL on any other host is refused before any request, so the auth
// token cannot be sent elsewhere; a deleted media is ErrMediaGone.
func TestFetchMediaCredentialsStayWithTwilio(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != "AC123" || p != "tok456" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, "bytes")
	}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(100) }))
	defer other.Close()
	tw, err := twilio.New(twilio.Config{AccountSID: "AC123", AuthToken: "tok456", BaseURL: srv.URL, PublicURL: "https://omnigate.example"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tw.FetchMedia(context.Background(), srv.Client(), omnigate.SMS, "+15550001111", srv.URL+"/2010-04-01/Accounts/AC123/Messages/MM1/Media/ME1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "bytes" {
		t.Errorf("body = %q", b)
	}
	if _, err := tw.FetchMedia(context.Background(), srv.Client(), omnigate.SMS, "", srv.URL+"/gone"); !errors.Is(err, adapters.ErrMediaGone) {
		t.Errorf("deleted media: %v, want ErrMediaGone", err)
	}
	if _, err := tw.FetchMedia(context.Background(), other.Client(), omnigate.SMS, "", other.URL+"/2010-04-01/Accounts/AC123/Messages/MM1/Media/ME1"); err == nil {
		t.Error("a URL on another host was fetched")
	}
	if hits.Load() != 2 {
		t.Errorf("requests = %d, want 2 to Twilio and none elsewhere", hits.Load())
	}
}
