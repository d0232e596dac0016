package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/api"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

// API keys of the test principals.
const (
	agentKey  = "agent-key"  // may send for support
	viewerKey = "viewer-key" // member of support, without the send permission
	allKey    = "all-key"    // a supervisor of every queue ("*"), without admin
)

// testAPI is the platform API over a real SQLite store, without a relay: what a send
// writes stays in the outbox for the tests to look at.
type testAPI struct {
	url string
	st  store.Store
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "omnigate.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	queues := map[string]omnigate.Queue{
		"support": {ID: "support", Name: "Customer Support",
			Addresses: map[omnigate.Channel]string{omnigate.SMS: "+15550001111", omnigate.Open: "web-widget"}},
	}
	cred := func(key string, p omnigate.Principal) api.Credential {
		return api.Credential{KeySHA256: sha256.Sum256([]byte(key)), Principal: p}
	}
	dir := &api.Directory{Queues: queues, DefaultCountry: "US", Principals: []api.Credential{
		cred(agentKey, omnigate.Principal{ID: "agent-ann", Permissions: []string{omnigate.PermSend, omnigate.PermQueues},
			Queues: []string{"support"}, DefaultQueue: "support"}),
		cred(viewerKey, omnigate.Principal{ID: "viewer", Permissions: []string{omnigate.PermQueues}, Queues: []string{"support"}}),
		cred(allKey, omnigate.Principal{ID: "supervisor", Permissions: []string{omnigate.PermQueues}, Queues: []string{"*"}}),
	}}
	pol := policy.Default()
	policyFn := func() *policy.Policy { return pol }
	svc, err := messaging.New(messaging.Config{Store: st, Policy: policyFn,
		Queues:         func() map[string]omnigate.Queue { return queues },
		Principals:     func() []omnigate.Principal { return dir.AllPrincipals() },
		DefaultCountry: func() string { return dir.DefaultCountry }})
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Config{Service: svc, Directory: func() *api.Directory { return dir }})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &testAPI{url: srv.URL, st: st}
}

// response is an answer with its body kept raw and decoded.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// errorCode returns the body's error.code.
func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// do sends a request with the given API key ("" for none) and extra headers.
func (a *testAPI) do(t *testing.T, method, path, key string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return out
}

func (a *testAPI) send(t *testing.T, key, body string, headers ...string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/messages", key, []byte(body), headers...)
}

// conversations returns the conversations with a contact.
func (a *testAPI) conversations(t *testing.T, ch omnigate.Channel, contact string) []omnigate.Conversation {
	t.Helper()
	cs, err := a.st.Conversations(context.Background(), ch, contact, 100)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// messages returns every message of every conversation with a contact.
func (a *testAPI) messages(t *testing.T, ch omnigate.Channel, contact string) []omnigate.Message {
	t.Helper()
	var out []omnigate.Message
	for _, c := range a.conversations(t, ch, contact) {
		ms, err := a.st.ConversationMessages(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ms...)
	}
	return out
}

// assertNothingWritten fails when the store holds any contact, or any conversation with
// contact on ch, or any outbox row.
func (a *testAPI) assertNothingWritten(t *testing.T, ch omnigate.Channel, contact string) {
	t.Helper()
	ctx := context.Background()
	cs, err := a.st.Contacts(ctx, store.ContactQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("contacts were written: %+v", cs)
	}
	if convs := a.conversations(t, ch, contact); len(convs) != 0 {
		t.Errorf("conversations were written: %+v", convs)
	}
	rows, err := a.st.Outbox(ctx, store.OutboxPending, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Errorf("outbox rows were written: %+v", rows)
	}
}
