package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/adapters/sandbox"
)

// TestSandboxMetaServesProfiles: the real Meta adapter reads Messenger and Instagram
// user profiles from the sandbox Graph API as it would from Graph; a field Graph does
// not have is refused with Graph's error, and a call without a token too.
func TestSandboxMetaServesProfiles(t *testing.T) {
	g, err := sandbox.NewMeta(sandbox.MetaConfig{AppSecret: "s", WebhookURL: "http://127.0.0.1:1/webhooks/meta",
		InstagramIDs: []string{"17841400000000"}, Poster: &sandbox.Poster{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/sandbox/meta", g))
	defer srv.Close()
	a, err := meta.New(meta.Config{AppSecret: "s", VerifyToken: "v", GraphURL: srv.URL + "/sandbox/meta",
		PageTokens: map[string]string{"104512345678": "page-token", "17841400000000": "ig-token"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		ch         omnigate.Channel
		ours, want string
	}{
		{omnigate.Messenger, "104512345678", "Sandbox Customer"},
		{omnigate.Instagram, "17841400000000", "Sandbox Customer"},
	} {
		got, err := a.Profile(ctx, tc.ch, tc.ours, "1254459154682919")
		if err != nil || got != tc.want {
			t.Errorf("%s profile = %q, %v; want %q", tc.ch, got, err, tc.want)
		}
	}
	var pe *adapters.PermanentError
	if _, err := a.Profile(ctx, omnigate.Messenger, "unknown-page", "1254459154682919"); !errors.As(err, &pe) || pe.Code != "unknown_sender" {
		t.Errorf("profile without a page token: %v, want unknown_sender", err)
	}
	resp, err := http.Get(srv.URL + "/sandbox/meta/v23.0/1254459154682919?fields=first_name,email")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("profile without a token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/sandbox/meta/v23.0/1254459154682919?fields=first_name,email", nil)
	req.Header.Set("Authorization", "Bearer page-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("profile asking for email: %d, want 400", resp.StatusCode)
	}
}
