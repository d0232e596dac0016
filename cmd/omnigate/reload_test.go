package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters/sandbox"
)

// rotatingTwilio is Twilio during a token rotation: both the old and the new auth token
// are accepted, and it records which one each send carried.
type rotatingTwilio struct {
	byToken map[string]*sandbox.Twilio
	mu      sync.Mutex
	tokens  []string // per send, in order
}

func (f *rotatingTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, token, _ := r.BasicAuth()
	f.mu.Lock()
	f.tokens = append(f.tokens, token)
	f.mu.Unlock()
	t, ok := f.byToken[token]
	if !ok {
		http.Error(w, `{"code":20003,"message":"Authenticate","status":401}`, http.StatusUnauthorized)
		return
	}
	t.ServeHTTP(w, r)
}

func (f *rotatingTwilio) sends() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// TestReloadRotatesTwilioToken: rewriting the Twilio auth token in the configuration and
// sending SIGHUP makes the next send use the new token, without a restart. A change to
// listen is not applied: it is logged as a warning naming it, and /readyz reports that a
// restart is pending.
func TestReloadRotatesTwilioToken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		sid      = "AC0123456789abcdef0123456789abcdef"
		oldToken = "oldtwiliotoken00000000000000000a"
		newToken = "newtwiliotoken11111111111111111b"
		apiKey   = "reload-test-key"
	)
	fake := &rotatingTwilio{byToken: map[string]*sandbox.Twilio{
		oldToken: sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: sid, AuthToken: oldToken}),
		newToken: sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: sid, AuthToken: newToken}),
	}}
	twilioSrv := httptest.NewServer(fake)
	t.Cleanup(twilioSrv.Close)

	dir := t.TempDir()
	bin := buildBinary(t, dir)
	addr := freePort(t)
	base := "http://" + addr
	sum := sha256.Sum256([]byte(apiKey))
	config := func(listen, token string) string {
		return fmt.Sprintf(`listen: %q
store: "sqlite://./reload.db"
queues:
  - {id: support, addresses: {sms: "+15550001111"}}
principals:
  - {id: ann, key_sha256: %q, permissions: [conversation:message:create], queues: [support], default_queue: support}
providers:
  twilio: {account_sid: %q, auth_token: %q, base_url: %q}
log: {level: info}
`, listen, hex.EncodeToString(sum[:]), sid, token, twilioSrv.URL)
	}
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	// Written as an operator's tooling should: whole, then renamed into place.
	writeConfig := func(text string) {
		t.Helper()
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(config(addr, oldToken))
	logPath := filepath.Join(dir, "omnigate.log")
	p := startDaemon(t, bin, cfgPath, logPath, base)

	client := &http.Client{Timeout: 10 * time.Second}
	send := func(text string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"channel": "sms", "to": "+14155550100", "text": text})
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("send: %d %v", resp.StatusCode, out)
		}
		return out["id"].(string)
	}
	waitSent := func(id string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st := messageStatus(t, client, base, apiKey, id)
			if st == "sent" {
				return
			}
			if st == "failed" || time.Now().After(deadline) {
				logs, _ := os.ReadFile(logPath)
				t.Fatalf("message %s is %q, want sent\n%s", id, st, logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	reloads := func(result string) int {
		t.Helper()
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^omnigate_reloads_total\{kind="config",result="` + result + `"\} (\d+)$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no config reload counter in\n%s", b)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	// reload rewrites the file, sends SIGHUP and waits until a reload has ended with
	// result (ok: the file is applied).
	reload := func(text, result string) {
		t.Helper()
		before := reloads(result)
		writeConfig(text)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for reloads(result) <= before {
			if time.Now().After(deadline) {
				logs, _ := os.ReadFile(logPath)
				t.Fatalf("no %s reload after SIGHUP\n%s", result, logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitSent(send("before the rotation"))
	reload(config(addr, newToken), "ok")
	waitSent(send("after the rotation"))
	// A file that fails validation changes nothing: the new token stays in use.
	reload("queues: [{id: support, addresses: {sms: \"555\"}}]\n", "failed")
	waitSent(send("after a bad file"))
	if got := fake.sends(); len(got) != 3 || got[0] != oldToken || got[1] != newToken || got[2] != newToken {
		t.Fatalf("tokens sent = %q, want the old one, then the new one twice", got)
	}

	// A new listen address needs a restart: the daemon says so and keeps serving.
	reload(config("127.0.0.1:1", newToken), "ok")
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if !ready.Ready || ready.Checks["config"] != "restart pending: listen changed" {
		t.Errorf("/readyz after a listen change: %d %+v", resp.StatusCode, ready)
	}
	logs, _ := os.ReadFile(logPath)
	if !regexp.MustCompile(`level=WARN msg="configuration changes need a restart[^"]*" keys=listen`).Match(logs) {
		t.Errorf("no warning naming listen in the log:\n%s", logs)
	}
	if strings.Contains(string(logs), newToken) || strings.Contains(string(logs), oldToken) {
		t.Errorf("the log contains a token")
	}
}
