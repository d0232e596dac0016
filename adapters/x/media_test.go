package x_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters/x"
)

// TestFetchMediaUsesTheReceivingAccountsToken: DM media is fetched with the user token
// of the account the DM reached; a host that is neither X's media host nor the
// configured base gets no request, and an account without a token fetches nothing.
func TestFetchMediaUsesTheReceivingAccountsToken(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), auth...)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "photo")
	}))
	defer srv.Close()
	a, err := x.New(x.Config{ConsumerSecret: "s", BaseURL: srv.URL, BearerTokens: map[string]string{"111": "tok-111", "222": "tok-222"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.FetchMedia(context.Background(), srv.Client(), omnigate.X, "222", srv.URL+"/1.1/ton/data/dm/1/2/p.jpg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := seen(); len(got) != 1 || got[0] != "Bearer tok-222" {
		t.Errorf("X saw %v, want the receiving account's token", got)
	}
	if _, err := a.FetchMedia(context.Background(), srv.Client(), omnigate.X, "222", "https://evil.example/p.jpg"); err == nil {
		t.Error("a URL off X's media hosts was fetched")
	}
	if _, err := a.FetchMedia(context.Background(), srv.Client(), omnigate.X, "333", srv.URL+"/1.1/ton/data/dm/1/2/p.jpg"); err == nil {
		t.Error("an account without a token fetched media")
	}
	if got := seen(); len(got) != 1 {
		t.Errorf("refused fetches reached a server: %v", got)
	}
}
