package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate/events"
)

// TestTwilioEndToEnd: an API send goes through the real Twilio adapter to the sandbox
// Twilio, whose signed status callbacks come back through /webhooks/twilio/status; the
// message reaches delivered and the platform receives the signed status events, then the
// customer's reply as an inbound event. It runs with events posted one by one and in
// batches (events.batch: 20); each post must be in the format its setting promises.
func TestTwilioEndToEnd(t *testing.T) {
	for _, batch := range []int{1, 20} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) { twilioEndToEnd(t, batch) })
	}
}

func twilioEndToEnd(t *testing.T, batch int) {
	const secret = "platform-secret-e2e"
	var mu sync.Mutex
	var got []events.Event
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if events.Verify([]byte(secret), body, r.Header.Get(events.SignatureHeader), time.Now(), 0) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		evs, err := events.Split(body)
		if err != nil {
			t.Errorf("post %s: %v", body, err)
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		batched := bytes.HasPrefix(body, []byte(`{"events":[`))
		if batched != (batch > 1) {
			t.Errorf("with events.batch %d, posted %s", batch, body)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, raw := range evs {
			var ev events.Event
			json.Unmarshal(raw, &ev)
			if !batched && r.Header.Get(events.EventIDHeader) != ev.ID {
				t.Errorf("%s %q names another event than %s", events.EventIDHeader, r.Header.Get(events.EventIDHeader), raw)
			}
			got = append(got, ev)
		}
		if batched && r.Header.Get(events.BatchCountHeader) != fmt.Sprint(len(evs)) {
			t.Errorf("%s %q for %d events", events.BatchCountHeader, r.Header.Get(events.BatchCountHeader), len(evs))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer platform.Close()

	dir := t.TempDir()
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:0"
store: "sqlite://./e2e.db"
sandbox: true
queues:
  - {id: support, name: Support, addresses: {sms: "+15550001111"}}
principals:
  - {id: agent-ann, key_sha256: %q, permissions: [conversation:message:create], queues: [support], default_queue: support}
events: {url: %q, secret: %q, batch: %d}
log: {level: warn}
`, opsHash(opsAnnKey), platform.URL, secret, batch)
	base, d, _ := serveIn(t, dir, cfgText)
	// The daemon learned its port only after listening: carriers must call that one.
	if d.cfg.PublicURL != base {
		t.Fatalf("public_url %s differs from the listener %s", d.cfg.PublicURL, base)
	}

	body, _ := json.Marshal(map[string]any{"channel": "sms", "to": "(415) 555-0100", "text": "Shipped. Any questions?"})
	req, _ := http.NewRequest("POST", base+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+opsAnnKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || sent["to"] != "+14155550100" {
		t.Fatalf("send: %d %v", resp.StatusCode, sent)
	}
	id := sent["id"].(string)

	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		var statuses []string
		inbound := ""
		for _, ev := range got {
			data, _ := ev.Data.(map[string]any)
			switch ev.Type {
			case events.TypeMessageStatus:
				if data["id"] == id {
					statuses = append(statuses, data["status"].(string))
				}
			case events.TypeMessageInbound:
				inbound, _ = data["text"].(string)
			}
		}
		mu.Unlock()
		if len(statuses) >= 2 && statuses[len(statuses)-1] == "delivered" && inbound != "" {
			if statuses[0] != "sent" {
				t.Errorf("status events = %v, want sent first", statuses)
			}
			if inbound != "Thanks, got it: Shipped. Any questions?" {
				t.Errorf("inbound event text = %q", inbound)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events so far: statuses %v, inbound %q", statuses, inbound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, _ = http.NewRequest("GET", base+"/v1/messages/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+opsAnnKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if m["status"] != "delivered" || m["provider_message_id"] == nil {
		t.Errorf("message = %v, want delivered with a Twilio sid", m)
	}
}
