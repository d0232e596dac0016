package api_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/omnigate/omnigate"
)

const okSend = `{"channel":"open","to":"contact-1","text":"hello"}`

func TestIdempotencyReplaysTheFirstResponse(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	first := a.send(t, agentKey, okSend, "Idempotency-Key", "order-42")
	if first.status != http.StatusAccepted {
		t.Fatalf("first send: %d %s", first.status, first.raw)
	}
	again := a.send(t, agentKey, okSend, "Idempotency-Key", "order-42")
	if again.status != first.status || !bytes.Equal(again.raw, first.raw) {
		t.Errorf("replay = %d %s, want the first answer %d %s", again.status, again.raw, first.status, first.raw)
	}
	if got := again.header.Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", got)
	}
	if ms := a.messages(t, omnigate.Open, "contact-1"); len(ms) != 1 || ms[0].ID != first.body["id"] {
		t.Errorf("messages = %+v, want exactly the one first created (%v)", ms, first.body["id"])
	}

	// The same key with another body is a client bug, not a replay.
	other := a.send(t, agentKey, `{"channel":"open","to":"contact-1","text":"something else"}`, "Idempotency-Key", "order-42")
	if other.status != http.StatusUnprocessableEntity || other.errorCode() != "idempotency_key_reused" {
		t.Errorf("reused key = %d %s, want 422 idempotency_key_reused", other.status, other.raw)
	}
	if ms := a.messages(t, omnigate.Open, "contact-1"); len(ms) != 1 {
		t.Errorf("a reused key wrote a message: %d messages", len(ms))
	}

	// Another key is another send (the conversation is continued).
	if r := a.send(t, agentKey, okSend, "Idempotency-Key", "order-43"); r.status != http.StatusAccepted {
		t.Errorf("new key: %d %s", r.status, r.raw)
	}
	if ms := a.messages(t, omnigate.Open, "contact-1"); len(ms) != 2 {
		t.Errorf("after a second key: %d messages, want 2", len(ms))
	}
}

func TestIdempotencyUnderConcurrency(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	const n = 20
	var wg sync.WaitGroup
	results := make([]response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = a.send(t, agentKey, okSend, "Idempotency-Key", "same-key")
		}()
	}
	close(start)
	wg.Wait()

	var accepted [][]byte
	for _, r := range results {
		switch {
		case r.status == http.StatusAccepted:
			accepted = append(accepted, r.raw)
		case r.status == http.StatusConflict && r.errorCode() == "idempotency_in_flight":
		default:
			t.Errorf("unexpected answer %d %s", r.status, r.raw)
		}
	}
	t.Logf("%d of %d accepted (replayed or first), the rest in flight", len(accepted), n)
	if len(accepted) == 0 {
		t.Fatal("no request was accepted")
	}
	for _, b := range accepted[1:] {
		if !bytes.Equal(b, accepted[0]) {
			t.Errorf("202 answers differ:\n%s\n%s", accepted[0], b)
		}
	}
	if cs := a.conversations(t, omnigate.Open, "contact-1"); len(cs) != 1 {
		t.Errorf("%d conversations, want 1", len(cs))
	}
	if ms := a.messages(t, omnigate.Open, "contact-1"); len(ms) != 1 {
		t.Errorf("%d messages for one Idempotency-Key, want 1", len(ms))
	}
}

func TestIdempotencyKeyLength(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	r := a.send(t, agentKey, okSend, "Idempotency-Key", strings.Repeat("k", 256))
	if r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" {
		t.Errorf("256-character key = %d %s, want 400 invalid_request", r.status, r.raw)
	}
	a.assertNothingWritten(t, omnigate.Open, "contact-1")
	if r := a.send(t, agentKey, okSend, "Idempotency-Key", strings.Repeat("k", 255)); r.status != http.StatusAccepted {
		t.Errorf("255-character key = %d %s, want 202", r.status, r.raw)
	}
}

// TestSendRejectsBadInput checks each refusal's status and code, and that a refused
// send writes nothing at all.
func TestSendRejectsBadInput(t *testing.T) {
	t.Parallel()
	const contact = "+14155550100"
	big := `{"channel":"sms","to":"+14155550100","text":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name       string
		key        string
		body       string
		status     int
		code       string
		wantFields []string // the fields an invalid_request must list
	}{
		{name: "broken JSON", key: agentKey, body: `{"channel":"sms","to":`, status: 400, code: "invalid_request"},
		{name: "unknown field", key: agentKey, body: `{"channel":"sms","to":"+14155550100","text":"hi","colour":"red"}`,
			status: 400, code: "invalid_request"},
		{name: "trailing data", key: agentKey, body: `{"channel":"sms","to":"+14155550100","text":"hi"} {}`,
			status: 400, code: "invalid_request"},
		{name: "unknown queue", key: agentKey, body: `{"queue":"nope","channel":"sms","to":"+14155550100","text":"hi"}`,
			status: 404, code: "queue_not_found"},
		{name: "invalid number", key: agentKey, body: `{"channel":"sms","to":"12345","text":"hi"}`,
			status: 400, code: "invalid_address"},
		{name: "unknown queue and invalid number", key: agentKey, body: `{"queue":"nope","channel":"sms","to":"12345","text":"hi"}`,
			status: 400, code: "invalid_request", wantFields: []string{"queue", "to"}},
		{name: "no text", key: agentKey, body: `{"channel":"sms","to":"+14155550100"}`,
			status: 400, code: "invalid_request", wantFields: []string{"text"}},
		{name: "missing key", key: "", body: `{"channel":"sms","to":"+14155550100","text":"hi"}`, status: 401, code: "unauthenticated"},
		{name: "wrong key", key: "not-a-key", body: `{"channel":"sms","to":"+14155550100","text":"hi"}`, status: 401, code: "unauthenticated"},
		{name: "no send permission", key: viewerKey, body: `{"queue":"support","channel":"sms","to":"+14155550100","text":"hi"}`,
			status: 403, code: "forbidden"},
		{name: "body over 1 MiB", key: agentKey, body: big, status: 413, code: "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAPI(t)
			r := a.send(t, tc.key, tc.body)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if tc.wantFields != nil {
				e, _ := r.body["error"].(map[string]any)
				list, _ := e["fields"].([]any)
				var got []string
				for _, f := range list {
					m, _ := f.(map[string]any)
					name, _ := m["field"].(string)
					got = append(got, name)
				}
				slices.Sort(got)
				if !slices.Equal(got, tc.wantFields) {
					t.Errorf("fields = %v, want %v", got, tc.wantFields)
				}
			}
			a.assertNothingWritten(t, omnigate.SMS, contact)
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestSendWritesOnce is the positive control for TestSendRejectsBadInput: the same
// helpers see what a good send writes.
func TestSendWritesOnce(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	r := a.send(t, agentKey, `{"channel":"sms","to":"(415) 555-0100","text":"hi"}`)
	if r.status != http.StatusAccepted || r.body["to"] != "+14155550100" || r.body["status"] != "queued" {
		t.Fatalf("send = %d %s", r.status, r.raw)
	}
	if ms := a.messages(t, omnigate.SMS, "+14155550100"); len(ms) != 1 || ms[0].ID != r.body["id"] {
		t.Errorf("messages = %+v", ms)
	}
	got := a.do(t, http.MethodGet, "/v1/messages/"+r.body["id"].(string), agentKey, nil)
	if got.status != http.StatusOK || got.body["status"] != "queued" {
		t.Errorf("GET message = %d %s", got.status, got.raw)
	}
}
