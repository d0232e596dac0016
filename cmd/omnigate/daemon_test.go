package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/egress"
)

// runDaemon loads cfgText as omnigate.yaml in a fresh folder, runs the daemon on a
// loopback port until the test ends, and returns its base URL and its log.
func runDaemon(t *testing.T, cfgText string) (string, *syncBuffer) {
	t.Helper()
	url, logs, _ := runDaemonWith(t, cfgText, nil)
	return url, logs
}

// runDaemonWith is runDaemon with tune called on the daemon before it serves (to
// shorten the server's timeouts), returning the daemon too (to look at its store).
func runDaemonWith(t *testing.T, cfgText string, tune func(*daemon)) (string, *syncBuffer, *daemon) {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if tune != nil {
		tune(d)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return "http://" + d.ln.Addr().String(), logs, d
}

// TestSandboxMountedOnlyWhenOn: without sandbox: true nothing answers under /sandbox/,
// so no fake carrier or event sink is reachable on a production listener.
func TestSandboxMountedOnlyWhenOn(t *testing.T) {
	t.Parallel()
	const base = `listen: "127.0.0.1:0"
store: "sqlite://./omnigate.db"
queues:
  - id: support
    addresses: {open: web-widget}
events: {url: "http://127.0.0.1:1/events", secret: "events-secret"}
`
	for _, tt := range []struct {
		cfg  string
		want int
	}{
		{base + "sandbox: true\n", http.StatusOK},
		{base + "sandbox: false\nallow_private_destinations: true\nproviders:\n  open: {integrations: {web-widget: {outbound_url: \"http://127.0.0.1:1/hook\", secret: s}}}\n", http.StatusNotFound},
	} {
		url, _ := runDaemon(t, tt.cfg)
		resp, err := http.Get(url + "/sandbox/events")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET /sandbox/events: %d, want %d\n%s", resp.StatusCode, tt.want, tt.cfg)
		}
	}
}

// TestOutboundClientRefusesPrivateDestinations: the client that posts to open
// integrations and events.url cannot reach a loopback server unless the configuration
// allows private destinations; the server never sees the request.
func TestOutboundClientRefusesPrivateDestinations(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, tt := range []struct {
		cfg  config.Config
		want bool
	}{
		{config.Config{}, false},
		{config.Config{AllowPrivateDestinations: true}, true},
		{config.Config{Sandbox: true}, true},
	} {
		before := hits.Load()
		resp, err := outboundClient(&tt.cfg).Post(srv.URL+"/events", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		if got := err == nil; got != tt.want {
			t.Errorf("allow=%v sandbox=%v: err %v, want reached=%v", tt.cfg.AllowPrivateDestinations, tt.cfg.Sandbox, err, tt.want)
		}
		if !tt.want && (!errors.Is(err, egress.ErrPrivate) || hits.Load() != before) {
			t.Errorf("a refused post reached the server or failed otherwise: %v", err)
		}
	}
}
