package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnigate/omnigate/config"
)

// opsCarrier is a fake open-messaging integration: it verifies each send's signature
// and answers per contact as the test scripts it.
type opsCarrier struct {
	secret   string
	mu       sync.Mutex
	received map[string]int // contact -> sends that reached us
	flaky    atomic.Int32   // 503s still to give the "flaky" contact
	down     atomic.Bool    // "dead" contact: 503 while true
}

func (c *opsCarrier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte(c.secret))
	m.Write(body)
	if r.Header.Get("X-Hub-Signature-256") != "sha256="+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var msg struct {
		Channel struct {
			To struct {
				ID string `json:"id"`
			} `json:"to"`
		} `json:"channel"`
	}
	json.Unmarshal(body, &msg)
	to := msg.Channel.To.ID
	switch {
	case to == "perm":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":"invalid_recipient","message":"no such visitor"}`)
		return
	case to == "flaky" && c.flaky.Add(-1) >= 0:
		// A 500 is retried by the outbox only, never inside the adapter.
		http.Error(w, "oops", http.StatusInternalServerError)
		return
	case to == "dead" && c.down.Load():
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	c.mu.Lock()
	c.received[to]++
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

const (
	opsAnnKey      = "ann-ops-test-key-6f1c"
	opsPlatformKey = "platform-ops-test-key-9a2d"
	opsOpenSecret  = "open-secret-7c41d2"
	opsEventSecret = "event-secret-5be019"
)

func opsHash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// TestOperations drives a real daemon through a scripted run and checks what operators
// see: metrics counted once under the right labels, the dead-letter round trip, and
// logs free of secrets and message bodies.
func TestOperations(t *testing.T) {
	carrier := &opsCarrier{secret: opsOpenSecret, received: map[string]int{}}
	carrier.flaky.Store(1)
	carrier.down.Store(true)
	fake := httptest.NewServer(carrier)
	defer fake.Close()
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer platform.Close()

	dir := t.TempDir()
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:0"
store: "sqlite://./ops.db"
default_country: US
sandbox: true
sandbox_with_providers: true
queues:
  - id: support
    name: Support
    addresses: {open: "web-widget", whatsapp: "+15550002222"}
principals:
  - id: agent-ann
    key_sha256: %q
    permissions: [conversation:message:create, routing:queue:view]
    queues: [support]
    default_queue: support
  - id: platform
    key_sha256: %q
    permissions: [routing:conversation:assign, routing:queue:view, admin]
    queues: ["*"]
events: {url: %q, secret: %q}
providers:
  open: {integrations: {web-widget: {outbound_url: %q, secret: %q}}}
relay: {workers: 2, max_attempts: 2, initial_backoff: 5ms, max_backoff: 20ms}
log: {format: json, level: info}
`, opsHash(opsAnnKey), opsHash(opsPlatformKey), platform.URL, opsEventSecret, fake.URL, opsOpenSecret)
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	base := "http://" + d.ln.Addr().String()

	call := func(method, path, key string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	send := func(to, text string) string {
		t.Helper()
		code, out := call("POST", "/v1/messages", opsAnnKey, map[string]any{"channel": "open", "to": to, "text": text})
		if code != http.StatusAccepted {
			t.Fatalf("send to %s: %d %v", to, code, out)
		}
		return out["id"].(string)
	}
	waitStatus := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, m := call("GET", "/v1/messages/"+id, opsAnnKey, nil)
			if m["status"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %s stayed %v, want %s", id, m["status"], want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ok := send("visitor-1", "secret body alpha")
	perm := send("perm", "secret body bravo")
	flaky := send("flaky", "secret body charlie")
	dead := send("dead", "secret body delta")
	waitStatus(ok, "sent")
	waitStatus(perm, "failed")
	waitStatus(flaky, "sent")
	waitStatus(dead, "failed")

	// A policy denial: WhatsApp free-form with no inbound window.
	if code, out := call("POST", "/v1/messages", opsAnnKey, map[string]any{"channel": "whatsapp", "to": "+14155550100", "text": "hi"}); code != 422 {
		t.Fatalf("whatsapp without a window: %d %v", code, out)
	}
	// A webhook with a bad signature.
	req, _ := http.NewRequest("POST", base+"/webhooks/open/web-widget", strings.NewReader(`{"type":"Text"}`))
	req.Header.Set("X-Hub-Signature-256", "sha256=AAAA")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || strings.Contains(string(b), "sha256=") {
		t.Fatalf("bad signature: %d %s", resp.StatusCode, b)
	}

	// The dead letter is listed, replayed after the carrier recovers, and delivered.
	code, out := call("GET", "/v1/outbox?status=dead", opsPlatformKey, nil)
	entries, _ := out["entries"].([]any)
	if code != 200 || len(entries) != 1 || entries[0].(map[string]any)["message_id"] != dead {
		t.Fatalf("dead letters: %d %v", code, out)
	}
	if code, _ := call("GET", "/v1/outbox?status=dead", opsAnnKey, nil); code != http.StatusForbidden {
		t.Errorf("an agent listed dead letters: %d", code)
	}
	carrier.down.Store(false)
	entryID := int64(entries[0].(map[string]any)["id"].(float64))
	if code, out := call("POST", fmt.Sprintf("/v1/outbox/%d/retry", entryID), opsPlatformKey, nil); code != http.StatusAccepted {
		t.Fatalf("retry: %d %v", code, out)
	}
	waitStatus(dead, "sent")
	carrier.mu.Lock()
	if carrier.received["dead"] != 1 || carrier.received["visitor-1"] != 1 || carrier.received["perm"] != 0 {
		t.Errorf("carrier received %v", carrier.received)
	}
	carrier.mu.Unlock()

	// Each step is counted once, under the right labels.
	metricsText := func() string {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	text := metricsText()
	for _, want := range []string{
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="queued"} 4`,
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="sent"} 3`,
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="failed"} 2`,
		`omnigate_delivery_attempts_total{channel="open",kind="deliver",outcome="permanent",provider="open"} 1`,
		`omnigate_delivery_attempts_total{channel="open",kind="deliver",outcome="retryable",provider="open"} 3`,
		`omnigate_delivery_attempts_total{channel="open",kind="deliver",outcome="ok",provider="open"} 3`,
		`omnigate_policy_decisions_total{channel="whatsapp",result="deny",rule="template_required"} 1`,
		`omnigate_webhook_requests_total{carrier="open",result="bad_signature"} 1`,
		`omnigate_outbox_dead 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Graceful shutdown, then no secret and no message body in the logs.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	all := logs.String()
	if !strings.Contains(all, "omnigate serving") {
		t.Fatalf("logs were not captured: %q", all)
	}
	for _, secret := range []string{opsAnnKey, opsPlatformKey, opsOpenSecret, opsEventSecret, "sandbox-meta-secret",
		"sandboxtwiliotoken", "sandbox-x-secret", "secret body"} {
		if strings.Contains(all, secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
