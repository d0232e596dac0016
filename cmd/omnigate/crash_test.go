package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// openCarrier is a fake open-messaging integration: it checks each post's signature,
// counts every message id it receives per epoch (one epoch per omnigate process), and
// answers 200 after a short random delay so that deliveries are in flight at any moment.
type openCarrier struct {
	secret string

	mu     sync.Mutex
	epoch  int
	counts []map[string]int // by epoch, message id -> receipts
	total  int
	badSig int
}

func newOpenCarrier(secret string) *openCarrier {
	return &openCarrier{secret: secret, counts: []map[string]int{{}}}
}

func (c *openCarrier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the sender died mid-request; nothing was received
	}
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write(body)
	want := "sha256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
		c.mu.Lock()
		c.badSig++
		c.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID == "" {
		http.Error(w, "no message id", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.counts[c.epoch][m.ID]++
	c.total++
	c.mu.Unlock()
	time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
	w.WriteHeader(http.StatusOK)
}

// nextEpoch starts counting receipts for the next process.
func (c *openCarrier) nextEpoch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.counts = append(c.counts, map[string]int{})
}

func (c *openCarrier) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// snapshot returns a copy of the per-epoch counts.
func (c *openCarrier) snapshot() []map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]map[string]int, len(c.counts))
	for i, m := range c.counts {
		out[i] = map[string]int{}
		for k, v := range m {
			out[i][k] = v
		}
	}
	return out
}

// freePort returns a loopback address for a child omnigate to listen on. The port is
// below the kernel's ephemeral range: a port the kernel handed out for ":0" would be
// free again once closed here, and any outgoing connection or ":0" listener of a
// parallel test could take it before the child binds it. Ports handed out by this
// process are not handed out twice.
func freePort(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// buildBinary compiles this command into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "omnigate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// daemonProc is one running omnigate process.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startDaemon(t *testing.T, bin, cfgPath, logPath, base string) *daemonProc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("omnigate exited before it was ready: %v\n%s", p.err, logs)
		default:
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("omnigate not ready after 20s\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashLosesNothing is the README's delivery promise against the real binary: a message
// answered 202 reaches the carrier even when the process is SIGKILLed while sends and
// deliveries are in flight, and a message reaches the carrier twice only when the
// killed process had already handed it over (it died between the carrier's acceptance
// and the commit of sent).
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := buildBinary(t, dir)

	const secret, apiKey = clusterOpenSecret, clusterAgentKey
	carrier := newOpenCarrier(secret)
	carrierSrv := httptest.NewServer(carrier)
	t.Cleanup(carrierSrv.Close)

	addr := freePort(t)
	base := "http://" + addr
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	writeOpenConfig(t, cfgPath, addr, "sqlite://./omnigate.db", carrierSrv.URL+"/hook", "{lease: 3s, initial_backoff: 50ms, max_backoff: 500ms}")
	logPath := filepath.Join(dir, "omnigate.log")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := os.ReadFile(logPath)
			t.Logf("omnigate log:\n%s", logs)
		}
	})

	client := &http.Client{Timeout: 10 * time.Second}
	// send posts one message and returns its id when omnigate answered 202.
	send := func(contact string, n int) (string, bool) {
		body := fmt.Sprintf(`{"channel":"open","to":%q,"text":"message %d"}`, contact, n)
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", false // the process died under this request
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			if err == nil && resp.StatusCode != http.StatusAccepted {
				t.Errorf("send to %s: %d %s", contact, resp.StatusCode, raw)
			}
			return "", false
		}
		var out struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.ID == "" {
			t.Errorf("202 without an id: %s", raw)
			return "", false
		}
		return out.ID, true
	}
	// Most messages go to their own contact; every fifth goes to one of three shared
	// contacts, whose conversations are continued and delivered in order.
	contactFor := func(n int) string {
		if n%5 == 0 {
			return fmt.Sprintf("shared-%d", n%3)
		}
		return fmt.Sprintf("contact-%d", n)
	}

	var mu sync.Mutex
	var accepted []string
	var failed []int
	sendAll := func(ns []int) {
		work := make(chan int)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					id, ok := send(contactFor(n), n)
					mu.Lock()
					if ok {
						accepted = append(accepted, id)
					} else {
						failed = append(failed, n)
					}
					mu.Unlock()
				}
			}()
		}
		for _, n := range ns {
			work <- n
		}
		close(work)
		wg.Wait()
	}

	const total = 300
	first := startDaemon(t, bin, cfgPath, logPath, base)
	var ns []int
	for n := range total {
		ns = append(ns, n)
	}
	sendsDone := make(chan struct{})
	go func() {
		defer close(sendsDone)
		sendAll(ns)
	}()

	// Kill once the carrier has seen a good part of the traffic, while sends are still
	// arriving and deliveries are in flight.
	killDeadline := time.Now().Add(15 * time.Second)
	var killedAfter int
	for {
		mu.Lock()
		nAccepted := len(accepted)
		mu.Unlock()
		if got := carrier.received(); got >= 40 && nAccepted >= 80 {
			killedAfter = got
			break
		}
		if time.Now().After(killDeadline) {
			t.Fatalf("traffic never got going: carrier saw %d, %d accepted", carrier.received(), nAccepted)
		}
		time.Sleep(time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	<-sendsDone
	// Requests the dead process had fully written may still be in the carrier's
	// socket buffers; let them land before the next process can send anything.
	time.Sleep(300 * time.Millisecond)
	carrier.nextEpoch()
	mu.Lock()
	acceptedBeforeKill := len(accepted)
	retry := failed
	failed = nil
	mu.Unlock()
	t.Logf("killed after the carrier saw %d posts; %d sends accepted, %d not", killedAfter, acceptedBeforeKill, len(retry))
	if acceptedBeforeKill == total {
		t.Log("every send was accepted before the kill; only deliveries were interrupted")
	}

	startDaemon(t, bin, cfgPath, logPath, base)
	// What the dead process never accepted is sent again to the new one.
	sendAll(retry)
	mu.Lock()
	if len(failed) > 0 {
		t.Errorf("%d sends failed against the restarted process", len(failed))
	}
	ids := append([]string(nil), accepted...)
	mu.Unlock()

	// Every 202'd message reaches the carrier.
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		snap := carrier.snapshot()
		missing = missing[:0]
		for _, id := range ids {
			if snap[0][id]+snap[1][id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d accepted messages never reached the carrier (lost), e.g. %v", len(missing), len(ids), missing[:min(5, len(missing))])
	}

	snap := carrier.snapshot()
	dups := 0
	for id, n := range snap[1] {
		if n > 1 {
			t.Errorf("message %s reached the carrier %d times from the process that did not crash", id, n)
		}
		if snap[0][id] > 0 {
			dups++
		}
	}
	for id, n := range snap[0] {
		if n > 1 {
			t.Errorf("message %s reached the carrier %d times before the crash (no retry was due)", id, n)
		}
	}
	t.Logf("%d messages accepted; %d delivered twice across the crash (the carrier had them before the kill)", len(ids), dups)
	carrier.mu.Lock()
	badSig := carrier.badSig
	carrier.mu.Unlock()
	if badSig > 0 {
		t.Errorf("%d carrier posts had a bad signature", badSig)
	}

	// And each ends sent.
	deadline = time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			status := messageStatus(t, client, base, apiKey, id)
			if status == "sent" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %s is %q, want sent", id, status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func messageStatus(t *testing.T, client *http.Client, base, key, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/messages/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET message %s: %v", id, err)
	}
	defer resp.Body.Close()
	var m struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET message %s: %d %s", id, resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.Status
}
