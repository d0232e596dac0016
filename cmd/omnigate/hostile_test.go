package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

const (
	hostileOpenSecret  = "hostile-open-secret-5e1f"
	hostileTwilioToken = "f00dfacef00dfacef00dfacef00dface"
	hostileEventSecret = "hostile-event-secret-77aa"
	hostileAnnKey      = "hostile-ann-key-0c3d"  // agent of support
	hostileBobKey      = "hostile-bob-key-9e21"  // agent of billing
	hostileBadKey      = "hostile-nobody-key-1f" // no principal
)

// hostileServer runs a daemon with real providers pointed at fakes on loopback, short
// read timeouts, and two agents in different queues.
func hostileServer(t *testing.T) (string, *daemon, *syncBuffer) {
	t.Helper()
	carrier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"carrier-1"}`)
	}))
	t.Cleanup(carrier.Close)
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
public_url: "http://127.0.0.1:0"
store: "sqlite://./omnigate.db"
allow_private_destinations: true
queues:
  - id: support
    addresses: {open: web-widget, sms: "+15550001111"}
  - id: billing
    addresses: {sms: "+15550003333"}
principals:
  - {id: ann, key_sha256: %q, permissions: [conversation:message:create, routing:queue:view], queues: [support], default_queue: support}
  - {id: bob, key_sha256: %q, permissions: [conversation:message:create, routing:queue:view], queues: [billing], default_queue: billing}
events: {url: %q, secret: %q}
providers:
  twilio: {account_sid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", auth_token: %q, base_url: %q}
  open: {integrations: {web-widget: {outbound_url: %q, secret: %q}}}
log: {format: json, level: debug}
`, opsHash(hostileAnnKey), opsHash(hostileBobKey), carrier.URL+"/events", hostileEventSecret, hostileTwilioToken, carrier.URL,
		carrier.URL+"/hook", hostileOpenSecret)
	url, logs, d := runDaemonWith(t, cfg, func(d *daemon) {
		d.srv.ReadHeaderTimeout, d.srv.ReadTimeout = 300*time.Millisecond, time.Second
	})
	return url, d, logs
}

func openSignature(body []byte) string {
	m := hmac.New(sha256.New, []byte(hostileOpenSecret))
	m.Write(body)
	return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func openInbound(id, text string) []byte {
	return fmt.Appendf(nil, `{"channel":{"platform":"Open","type":"Private","messageId":%q,"to":{"id":"web-widget"},
"from":{"id":"contact-9","idType":"Opaque"},"time":"2026-03-26T20:06:58.803Z"},"type":"Text","text":%q,"direction":"Inbound"}`, id, text)
}

// stored counts what the store holds: messages with contact-9 or +14155550100, contacts,
// and outbox rows.
func stored(t *testing.T, d *daemon) (messages, contacts, rows int) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		ch   omnigate.Channel
		addr string
	}{{omnigate.Open, "contact-9"}, {omnigate.SMS, "+14155550100"}, {omnigate.SMS, "+14155550123"}} {
		convs, err := d.st.Conversations(ctx, c.ch, c.addr, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, cv := range convs {
			ms, err := d.st.ConversationMessages(ctx, cv.ID)
			if err != nil {
				t.Fatal(err)
			}
			messages += len(ms)
		}
	}
	cs, err := d.st.Contacts(ctx, store.ContactQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := d.st.Outbox(ctx, store.OutboxPending, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := d.st.Outbox(ctx, store.OutboxDead, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return messages, len(cs), len(pending) + len(dead)
}

// TestHostileInput sends what an attacker or a broken client would through the real
// server: each request gets its documented status and error code, nothing is written,
// and no secret appears in any answer.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	base, d, logs := hostileServer(t)
	bigJSON := `{"channel":"sms","to":"+14155550100","text":"` + strings.Repeat("a", 1<<20) + `"}`
	deep := `{"channel":"sms","to":"+14155550100","text":"hi","media":[` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `]}`
	manyFields := strings.Repeat("a=1&", 100_000) + "MessageSid=SM1"
	webhookBody := openInbound("in-hostile-1", "hello")
	deepHook := []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000))
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		code               string
	}{
		{"over-size API body", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileAnnKey, "Content-Type": "application/json"}, bigJSON, 413, "body_too_large"},
		{"over-size webhook", "POST", "/webhooks/open/web-widget", map[string]string{"X-Hub-Signature-256": "sha256=AAAA"}, strings.Repeat("x", 1<<20+1), 413, "body_too_large"},
		{"invalid UTF-8", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileAnnKey, "Content-Type": "application/json"}, "{\"channel\":\"sms\",\"to\":\"+14155550100\",\"text\":\"\xff\xfe\"}", 400, "invalid_request"},
		{"deep JSON", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileAnnKey, "Content-Type": "application/json"}, deep, 400, "invalid_request"},
		{"deep JSON webhook", "POST", "/webhooks/open/web-widget", map[string]string{"X-Hub-Signature-256": openSignature(deepHook)}, string(deepHook), 400, "malformed"},
		{"huge form field count", "POST", "/webhooks/twilio", map[string]string{"X-Twilio-Signature": "AAAA", "Content-Type": "application/x-www-form-urlencoded"}, manyFields, 400, "malformed"},
		{"signature for another body", "POST", "/webhooks/open/web-widget", map[string]string{"X-Hub-Signature-256": openSignature(openInbound("in-other", "other"))}, string(webhookBody), 401, "bad_signature"},
		{"no signature", "POST", "/webhooks/twilio", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "MessageSid=SM1&From=%2B14155550123&To=%2B15550001111&Body=hi", 401, "bad_signature"},
		{"unknown key", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileBadKey, "Content-Type": "application/json"}, `{"channel":"sms","to":"+14155550100","text":"hi"}`, 401, "unauthenticated"},
		{"another principal's queue", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileBobKey, "Content-Type": "application/json"}, `{"queue":"support","channel":"sms","to":"+14155550100","text":"hi"}`, 403, "not_queue_member"},
		{"form to the API", "POST", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileAnnKey, "Content-Type": "application/x-www-form-urlencoded"}, "channel=sms&to=%2B14155550100&text=hi", 415, "unsupported_media_type"},
		{"unknown route", "GET", "/v1/secrets", map[string]string{"Authorization": "Bearer " + hostileAnnKey}, "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/messages", map[string]string{"Authorization": "Bearer " + hostileAnnKey}, "", 405, "method_not_allowed"},
		{"sandbox off", "GET", "/sandbox/events", nil, "", 404, "not_found"},
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !bytes.Contains(answer, []byte(`"code":"`+tt.code+`"`)) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, answer, tt.status, tt.code)
		}
		for _, secret := range []string{hostileOpenSecret, hostileTwilioToken, hostileEventSecret, hostileAnnKey, hostileBobKey, openSignature(webhookBody)} {
			if bytes.Contains(answer, []byte(secret)) {
				t.Errorf("%s: the answer contains a secret: %s", tt.name, answer)
			}
		}
	}
	if m, c, r := stored(t, d); m != 0 || c != 0 || r != 0 {
		t.Errorf("hostile requests wrote %d messages, %d contacts, %d outbox rows", m, c, r)
	}

	// A replayed webhook is acknowledged each time and stored once.
	for range 3 {
		req, _ := http.NewRequest("POST", base+"/webhooks/open/web-widget", bytes.NewReader(webhookBody))
		req.Header.Set("X-Hub-Signature-256", openSignature(webhookBody))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("replayed webhook: %d", resp.StatusCode)
		}
	}
	if m, _, _ := stored(t, d); m != 1 {
		t.Errorf("a webhook replayed three times stored %d messages, want 1", m)
	}
	// Another queue's agent neither reads the conversation nor finds the contact.
	convs, err := d.st.Conversations(context.Background(), omnigate.Open, "contact-9", 1)
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversations: %v %v", err, convs)
	}
	for _, c := range []struct {
		key, path string
		status    int
		contains  bool
	}{
		{hostileBobKey, "/v1/conversations/" + convs[0].ID, 404, false},
		{hostileAnnKey, "/v1/conversations/" + convs[0].ID, 200, true},
		{hostileBobKey, "/v1/contacts?channel=open", 200, false},
		{hostileAnnKey, "/v1/contacts?channel=open", 200, true},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+c.key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || bytes.Contains(answer, []byte("contact-9")) != c.contains {
			t.Errorf("GET %s as %s: %d %s", c.path, c.key, resp.StatusCode, answer)
		}
	}
	for _, secret := range []string{hostileOpenSecret, hostileTwilioToken, hostileEventSecret, hostileAnnKey, hostileBobKey} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains a secret")
		}
	}
}

// TestSlowClientsAreCutOff: a client that sends its headers or its body too slowly is
// disconnected by the server's read timeouts, and what it sent is not stored.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	base, d, _ := hostileServer(t)
	addr := strings.TrimPrefix(base, "http://")
	for _, partial := range []string{
		"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + hostileAnnKey + "\r\n", // headers never end
		"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + hostileAnnKey +
			"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"channel\":\"sms\",", // body never ends
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, partial); err != nil {
			t.Fatal(err)
		}
		// Our own deadline only bounds a broken server; the server's is far shorter.
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			// The slow body is answered (the read failed) and the connection closed.
			if resp.StatusCode < 400 {
				t.Errorf("a slow request got %d", resp.StatusCode)
			}
			resp.Body.Close()
			_, err = io.ReadAll(conn)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("the server kept a slow client's connection open")
		}
		conn.Close()
	}
	if m, c, r := stored(t, d); m != 0 || c != 0 || r != 0 {
		t.Errorf("slow requests wrote %d messages, %d contacts, %d outbox rows", m, c, r)
	}
}
