package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/events"
)

// TestStoryMediaUnavailableAfterRestart: a story mention's event waits for a platform
// that answers 503; omnigate restarts; the platform, back, gets the event with the
// media marked unavailable, /v1/media/{id} refuses it, and neither process logged the
// link.
func TestStoryMediaUnavailableAfterRestart(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	var mu sync.Mutex
	var delivered [][]byte
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		evs, _ := events.Split(body) // one event, or a batch of them
		mu.Lock()
		for _, ev := range evs {
			delivered = append(delivered, ev)
		}
		mu.Unlock()
	}))
	defer platform.Close()

	dir := t.TempDir()
	const key = "key-agent"
	sum := sha256.Sum256([]byte(key))
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:0"
store: "sqlite://%s"
allow_private_destinations: true
queues:
  - id: support
    addresses: {instagram: "17841400000000"}
principals:
  - id: agent
    key_sha256: %s
    permissions: [conversation:message:create]
    queues: [support]
events: {url: %q, secret: "events-secret"}
relay: {initial_backoff: 50ms, max_backoff: 100ms}
providers:
  meta: {app_secret: "app-secret", verify_token: "verify", page_tokens: {"17841400000000": "ig-token"}}
`, filepath.Join(dir, "omnigate.db"), hex.EncodeToString(sum[:]), platform.URL+"/events")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	start := func() (string, func()) {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		d, err := newDaemon(ctx, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.run(ctx) }()
		return "http://" + d.ln.Addr().String(), func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		}
	}

	const link = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17895695668004552&signature=restartsig"
	base, stop := start()
	now := time.Now().UnixMilli()
	body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{
		"id": "17841400000000", "time": now, "messaging": []any{map[string]any{
			"sender": map[string]string{"id": "5318329871520002"}, "recipient": map[string]string{"id": "17841400000000"},
			"timestamp": now, "message": map[string]any{"mid": "ig_story_restart",
				"attachments": []any{map[string]any{"type": "story_mention", "payload": map[string]string{"url": link}}}},
		}},
	}}})
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/meta", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(meta.SignatureHeader, meta.Sign("app-secret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	stop()

	up.Store(true)
	base, stop = start()
	defer stop()
	var media map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for media == nil {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the story's event after the restart")
		}
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		for _, b := range delivered {
			var ev struct {
				Type string `json:"type"`
				Data struct {
					Media []map[string]any `json:"media"`
				} `json:"data"`
			}
			json.Unmarshal(b, &ev)
			if ev.Type == "message.inbound" && len(ev.Data.Media) == 1 {
				media = ev.Data.Media[0]
			}
		}
		mu.Unlock()
	}
	if media["available"] != false || media["ephemeral"] != true {
		t.Errorf("story media after the restart = %v, want ephemeral and available: false", media)
	}
	id, _ := media["id"].(string)
	req, _ = http.NewRequest(http.MethodGet, base+"/v1/media/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("GET the story media after the restart: %d, want 410", resp.StatusCode)
	}
	if bytes.Contains([]byte(logs.String()), []byte("restartsig")) {
		t.Errorf("a log line holds the story link")
	}
}
