package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters/signature"
)

// TestReceiptMetrics: delivery receipts posted by a carrier's webhook (here an
// open-messaging integration's signed Receipt messages) are counted in
// omnigate_messages_total like the relay's own transitions: once per status reached, a
// repeated receipt not again.
func TestReceiptMetrics(t *testing.T) {
	carrier := &opsCarrier{secret: opsOpenSecret, received: map[string]int{}}
	fake := httptest.NewServer(carrier)
	defer fake.Close()
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:0"
store: "sqlite://./receipts.db"
default_country: US
queues:
  - {id: support, name: Support, addresses: {open: "web-widget"}}
principals:
  - {id: agent-ann, key_sha256: %q, permissions: [conversation:message:create], queues: [support], default_queue: support}
providers:
  open: {integrations: {web-widget: {outbound_url: %q, secret: %q}}}
allow_private_destinations: true
log: {level: warn}
`, opsHash(opsAnnKey), fake.URL, opsOpenSecret)
	base, _, _ := serveIn(t, t.TempDir(), cfgText)

	do := func(req *http.Request) (int, []byte) {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	send := func(to string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"channel": "open", "to": to, "text": "hello " + to})
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opsAnnKey)
		req.Header.Set("Content-Type", "application/json")
		code, b := do(req)
		var out map[string]any
		json.Unmarshal(b, &out)
		if code != http.StatusAccepted {
			t.Fatalf("send: %d %s", code, b)
		}
		return out["id"].(string)
	}
	status := func(id string) string {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/messages/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+opsAnnKey)
		_, b := do(req)
		var m map[string]any
		json.Unmarshal(b, &m)
		s, _ := m["status"].(string)
		return s
	}
	waitStatus := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for status(id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("message %s is %s, want %s", id, status(id), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	receipt := func(id, to, st string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":"r-%s-%s","channel":{"platform":"Open","type":"Private","messageId":%q,"to":{"id":%q},"from":{"id":"web-widget"},"time":"2026-03-26T20:08:00.000Z"},"type":"Receipt","status":%q,"direction":"Outbound"}`,
			id, st, id, to, st)
		if st == "Failed" {
			body = strings.Replace(body, `"direction"`, `"reasons":[{"code":"RecipientOptedOut","message":"blocked"}],"direction"`, 1)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/open/web-widget", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", signature.SHA256(opsOpenSecret, []byte(body), signature.Base64))
		if code, b := do(req); code != http.StatusOK {
			t.Fatalf("receipt %s %s: %d %s", id, st, code, b)
		}
	}

	a, b, c := send("visitor-a"), send("visitor-b"), send("visitor-c")
	for _, id := range []string{a, b, c} {
		waitStatus(id, "sent")
	}
	receipt(a, "visitor-a", "Delivered")
	receipt(a, "visitor-a", "Read")
	receipt(a, "visitor-a", "Delivered") // late and out of order: no transition
	receipt(b, "visitor-b", "Delivered")
	receipt(b, "visitor-b", "Delivered") // a carrier's retry
	receipt(c, "visitor-c", "Failed")
	waitStatus(a, "read")
	waitStatus(b, "delivered")
	waitStatus(c, "failed")

	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	_, raw := do(req)
	text := string(raw)
	for _, want := range []string{
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="sent"} 3`,
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="delivered"} 2`,
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="read"} 1`,
		`omnigate_messages_total{channel="open",direction="outbound",queue="support",status="failed"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "omnigate_messages_total") {
				t.Log(l)
			}
		}
	}
}
