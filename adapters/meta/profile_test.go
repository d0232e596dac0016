package meta

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

// TestProfileNames: names from profiles are cleaned of control and bidi characters and
// bounded; Graph's errors are classified like a send's.
func TestProfileNames(t *testing.T) {
	var mu sync.Mutex
	answer, status := "", http.StatusOK
	set := func(code int, body string) {
		mu.Lock()
		status, answer = code, body
		mu.Unlock()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code, body := status, answer
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	m, err := New(Config{AppSecret: "s", VerifyToken: "v", GraphURL: srv.URL, PageTokens: map[string]string{"p": "t"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ch           omnigate.Channel
		answer, want string
	}{
		{omnigate.Messenger, `{"first_name":"Ro\nsa","last_name":"\u202eDíaz\u0000"}`, "Ro sa Díaz"},
		{omnigate.Messenger, `{"first_name":"","last_name":""}`, ""},
		{omnigate.Instagram, `{"name":"  ","username":"kai"}`, "kai"},
		{omnigate.Instagram, `{"name":"` + strings.Repeat("é", 300) + `"}`, strings.Repeat("é", maxNameRunes)},
		{omnigate.Instagram, `{"id":"1"}`, ""},
	} {
		set(http.StatusOK, tc.answer)
		got, err := m.Profile(context.Background(), tc.ch, "p", "1")
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %q, %v; want %q", tc.ch, tc.answer, got, err, tc.want)
		}
	}
	set(http.StatusBadRequest, `{"error":{"message":"User consent is required","type":"OAuthException","code":2018218}}`)
	var pe *adapters.PermanentError
	if _, err := m.Profile(context.Background(), omnigate.Instagram, "p", "1"); !errors.As(err, &pe) || pe.Code != "2018218" {
		t.Errorf("refused profile: %v, want a permanent 2018218", err)
	}
	if _, err := m.Profile(context.Background(), omnigate.WhatsApp, "p", "1"); !errors.As(err, &pe) || pe.Code != codeBadChannel {
		t.Errorf("whatsapp profile: %v, want %s", err, codeBadChannel)
	}
}
