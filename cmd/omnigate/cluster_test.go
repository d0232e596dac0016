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
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters/x"
	"github.com/omnigate/omnigate/store/storetest"
)

// The tests in this file run real omnigate processes: one on SQLite killed and restarted,
// and clusters of three sharing one PostgreSQL schema.

const (
	clusterAgentKey    = "cluster-agent-key"
	clusterPlatformKey = "cluster-platform-key"
	clusterOpenSecret  = "cluster-open-secret"
	clusterXSecret     = "cluster-x-consumer-secret"
	clusterXUser       = "1234567890"
	clusterXToken      = "cluster-x-user-token"
)

// openReceipt is one post the recording carrier took.
type openReceipt struct {
	inst     string // the omnigate process that posted it: ?inst= on its outbound_url
	id       string // omnigate's message id
	to, text string
	at       time.Time
	answered bool // the carrier answered 200 (false while held, or when the sender went away)
}

// recordingCarrier is a fake open-messaging integration that keeps every post in arrival
// order. Each omnigate process is configured with its own ?inst= on the outbound URL, so
// the carrier knows which process (and which incarnation of a restarted one) sent each
// post, whenever the bytes arrive. hold delays every answer; a post whose sender goes
// away while it is held is never answered.
type recordingCarrier struct {
	secret string
	hold   time.Duration

	mu       sync.Mutex
	receipts []openReceipt
	pending  int // received and not answered yet
	bad      int // bad signature or body
}

func (c *recordingCarrier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the sender died mid-request; nothing was received
	}
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write(body)
	want := "sha256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var m struct {
		ID      string `json:"id"`
		Text    string `json:"text"`
		Channel struct {
			To struct {
				ID string `json:"id"`
			} `json:"to"`
		} `json:"channel"`
	}
	if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) ||
		json.Unmarshal(body, &m) != nil || m.ID == "" || m.Channel.To.ID == "" {
		c.mu.Lock()
		c.bad++
		c.mu.Unlock()
		http.Error(w, "bad post", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	i := len(c.receipts)
	c.receipts = append(c.receipts, openReceipt{inst: r.URL.Query().Get("inst"), id: m.ID,
		to: m.Channel.To.ID, text: m.Text, at: time.Now()})
	c.pending++
	c.mu.Unlock()
	answered := true
	if c.hold > 0 {
		t := time.NewTimer(c.hold)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the connection closed: the sender is gone
			t.Stop()
			answered = false
		}
	}
	c.mu.Lock()
	c.pending--
	c.receipts[i].answered = answered
	c.mu.Unlock()
	if answered {
		w.WriteHeader(http.StatusOK)
	}
}

func (c *recordingCarrier) snapshot() []openReceipt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]openReceipt(nil), c.receipts...)
}

func (c *recordingCarrier) counts() (pending, answered, bad int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.receipts {
		if r.answered {
			answered++
		}
	}
	return c.pending, answered, c.bad
}

func keyHash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// writeOpenConfig writes an omnigate.yaml for the open channel only: one queue, an agent
// and a platform principal, and the relay settings given as a YAML flow map.
func writeOpenConfig(t *testing.T, path, listen, storeDSN, outboundURL, relay string) {
	t.Helper()
	cfg := fmt.Sprintf(`listen: %q
store: %q
sandbox: false
queues:
  - id: support
    name: Support
    addresses: {open: web-widget}
principals:
  - id: agent
    key_sha256: %q
    permissions: [conversation:message:create]
    queues: [support]
    default_queue: support
  - id: platform
    key_sha256: %q
    permissions: [routing:conversation:assign, admin]
    queues: ["*"]
providers:
  open:
    integrations:
      web-widget: {outbound_url: %q, secret: %q}
relay: %s
# The fake carrier listens on loopback.
allow_private_destinations: true
shutdown_timeout: 5s
log: {level: warn}
`, listen, storeDSN, keyHash(clusterAgentKey), keyHash(clusterPlatformKey), outboundURL, clusterOpenSecret, relay)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dumpLogsOnFailure prints the daemons' logs when the test failed.
func dumpLogsOnFailure(t *testing.T, paths ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range paths {
			logs, _ := os.ReadFile(p)
			if len(logs) > 20000 {
				logs = append([]byte("...\n"), logs[len(logs)-20000:]...)
			}
			t.Logf("%s:\n%s", filepath.Base(p), logs)
		}
	})
}

// apiClient keeps enough idle connections for many concurrent callers per daemon.
func apiClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// apiCall makes one API request with key's bearer token. err is a transport error: the
// request may or may not have been served.
func apiCall(client *http.Client, method, url, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, raw, nil
}

// acceptedID returns the message id of a 202 answer.
func acceptedID(raw []byte) string {
	var out struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &out)
	return out.ID
}

// eventually polls cond until it holds (true) or timeout passes (false).
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitUntil polls cond until it holds, and fails the test when timeout passes first.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventually(timeout, cond) {
		t.Fatalf("gave up after %v waiting for %s", timeout, what)
	}
}

// checkCarrierOrder checks per-conversation FIFO at the carrier: for each contact, the
// texts the carrier received, in arrival order and with immediate repeats collapsed, are
// exactly the texts omnigate accepted for that contact, in the order it accepted them.
func checkCarrierOrder(t *testing.T, receipts []openReceipt, accepted map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, r := range receipts {
		seq := got[r.to]
		if len(seq) > 0 && seq[len(seq)-1] == r.text {
			continue
		}
		got[r.to] = append(seq, r.text)
	}
	for contact, want := range accepted {
		seq := got[contact]
		n := min(len(seq), len(want))
		i := 0
		for i < n && seq[i] == want[i] {
			i++
		}
		if i == n && len(seq) == len(want) {
			continue
		}
		from, to := max(0, i-2), i+3
		t.Errorf("contact %s: the carrier's order differs from the accepted order at position %d: carrier %q, accepted %q",
			contact, i, seq[min(from, len(seq)):min(to, len(seq))], want[min(from, len(want)):min(to, len(want))])
	}
	for contact := range got {
		if _, ok := accepted[contact]; !ok {
			t.Errorf("the carrier received messages for %s, to whom nothing was accepted", contact)
		}
	}
}

// TestSQLiteRestartResendsInFlightWithinSeconds kills a SQLite daemon while its carrier
// holds several deliveries unanswered, with a lease and an instance timeout far longer
// than the test: the rows in flight at the kill must reach the carrier again within
// seconds of the restarted process being ready, which only the owner's release of every
// lease at start can do.
// A second process on the same database file is refused while the first one runs.
func TestSQLiteRestartResendsInFlightWithinSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	carrier := &recordingCarrier{secret: clusterOpenSecret, hold: 2 * time.Second}
	carrierSrv := httptest.NewServer(carrier)
	t.Cleanup(carrierSrv.Close)

	addr := freePort(t)
	base := "http://" + addr
	const store = "sqlite://./omnigate.db"
	// Neither the lease nor the reaping of a silent instance can bring the rows back
	// within the test's bounds: only the owner's release of every lease at start can.
	const relay = "{lease: 60s, instance_timeout: 30s}"
	cfgA, cfgB := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeOpenConfig(t, cfgA, addr, store, carrierSrv.URL+"/hook?inst=a", relay)
	writeOpenConfig(t, cfgB, addr, store, carrierSrv.URL+"/hook?inst=b", relay)
	logPath := filepath.Join(dir, "omnigate.log")
	dumpLogsOnFailure(t, logPath)

	first := startDaemon(t, bin, cfgA, logPath, base)

	// A second serve on the same file, on another port, is refused: SQLite serves one
	// process.
	other := filepath.Join(dir, "other.yaml")
	writeOpenConfig(t, other, freePort(t), store, carrierSrv.URL+"/hook?inst=other", relay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, bin, "serve", "--config", other).CombinedOutput()
	expired := ctx.Err() != nil
	cancel()
	switch {
	case expired:
		t.Fatalf("a second omnigate serve on the same SQLite file kept running:\n%s", out)
	case err == nil:
		t.Fatalf("a second omnigate serve on the same SQLite file exited cleanly:\n%s", out)
	case !strings.Contains(string(out), "another omnigate process is serving") || !strings.Contains(string(out), ".lock"):
		t.Fatalf("a second omnigate serve failed without naming the lock: %v\n%s", err, out)
	}

	// 40 messages over 8 contacts, each contact's in order: with 8 workers every
	// conversation has its head in flight, held 2s by the carrier.
	client := apiClient(t)
	const contacts, perContact = 8, 5
	accepted := map[string][]string{} // contact -> texts in accepted order
	ids := map[string][]string{}      // contact -> ids in accepted order
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range contacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			contact := fmt.Sprintf("visitor-%d", c)
			for n := range perContact {
				text := fmt.Sprintf("%s message %d", contact, n)
				code, raw, err := apiCall(client, http.MethodPost, base+"/v1/messages", clusterAgentKey,
					map[string]any{"channel": "open", "to": contact, "text": text})
				if err != nil || code != http.StatusAccepted || acceptedID(raw) == "" {
					t.Errorf("send %q: %d %s %v", text, code, raw, err)
					return
				}
				mu.Lock()
				accepted[contact] = append(accepted[contact], text)
				ids[contact] = append(ids[contact], acceptedID(raw))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Kill once a first round was answered and the next is held at the carrier.
	waitUntil(t, 60*time.Second, "deliveries held at the carrier after a first answered round", func() bool {
		pending, answered, _ := carrier.counts()
		return pending >= 3 && answered >= contacts
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	atKill := carrier.snapshot()

	answered := map[string]bool{}
	for _, r := range atKill {
		if r.answered {
			answered[r.id] = true
		}
	}
	// In flight at the kill: posts the carrier held unanswered, and the head of every
	// conversation (its first message not answered): claimed, perhaps not yet posted,
	// under a 60s lease.
	inFlight := map[string]bool{}
	held := 0
	for _, r := range atKill {
		if !r.answered && !answered[r.id] {
			inFlight[r.id] = true
			held++
		}
	}
	heads := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			if !answered[id] {
				heads[id] = true
				break
			}
		}
	}
	for id := range inFlight {
		if !heads[id] {
			t.Errorf("message %s was held at the carrier but was not the head of its conversation", id)
		}
		delete(heads, id)
	}
	if held == 0 {
		t.Fatal("no delivery was held at the carrier at the kill")
	}
	t.Logf("killed with %d posts held unanswered at the carrier, %d other conversation heads not yet posted, %d messages answered",
		held, len(heads), len(answered))
	for id := range heads {
		inFlight[id] = true
	}

	startDaemon(t, bin, cfgB, logPath, base)
	ready := time.Now()

	firstB := func() map[string]time.Time {
		out := map[string]time.Time{}
		for _, r := range carrier.snapshot() {
			if _, ok := out[r.id]; !ok && r.inst == "b" {
				out[r.id] = r.at
			}
		}
		return out
	}
	waitUntil(t, 60*time.Second, "the rows in flight at the kill to reach the carrier again", func() bool {
		got := firstB()
		for id := range inFlight {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	got := firstB()
	slowest := time.Duration(math.MinInt64) // negative: before the readiness poll saw 200
	for id := range inFlight {
		d := got[id].Sub(ready)
		slowest = max(slowest, d)
		if d > 5*time.Second {
			t.Errorf("message %s, in flight at the kill, reached the carrier again %v after the restarted process was ready, want at most 5s",
				id, d.Round(time.Millisecond))
		}
	}
	t.Logf("the %d rows in flight at the kill reached the carrier again at most %v after readiness", len(inFlight), slowest.Round(time.Millisecond))

	// Every accepted message ends answered by the carrier and sent.
	var all []string
	for _, list := range ids {
		all = append(all, list...)
	}
	waitUntil(t, 60*time.Second, "every accepted message to be answered by the carrier", func() bool {
		ok := map[string]bool{}
		for _, r := range carrier.snapshot() {
			if r.answered {
				ok[r.id] = true
			}
		}
		for _, id := range all {
			if !ok[id] {
				return false
			}
		}
		return true
	})
	for _, id := range all {
		waitUntil(t, 60*time.Second, "message "+id+" to be sent", func() bool {
			return messageStatus(t, client, base, clusterAgentKey, id) == "sent"
		})
	}

	final := carrier.snapshot()
	perInst := map[string]map[string]int{}
	for _, r := range final {
		if perInst[r.inst] == nil {
			perInst[r.inst] = map[string]int{}
		}
		perInst[r.inst][r.id]++
	}
	for inst, counts := range perInst {
		for id, n := range counts {
			if n > 1 {
				t.Errorf("process %s posted message %s %d times", inst, id, n)
			}
			if inst == "b" && perInst["a"][id] > 0 && answered[id] && !inFlight[id] {
				// Answered before the kill and sent again: allowed only when the kill
				// fell between the carrier's answer and the commit of sent.
				t.Logf("message %s was answered before the kill and posted again after it", id)
			}
		}
	}
	checkCarrierOrder(t, final, accepted)
	if _, _, bad := carrier.counts(); bad > 0 {
		t.Errorf("%d carrier posts had a bad signature or body", bad)
	}
}

// TestClusterKillOnePostgres runs three daemons on one PostgreSQL schema, posts 3,000
// messages over 30 contacts through all three, SIGKILLs one mid-way and restarts it a
// second later: nothing accepted is lost, each conversation reaches the carrier in the
// order it was accepted, and a message reaches the carrier twice only when the killed
// process had posted it.
func TestClusterKillOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	storeDSN := storetest.PostgresSchema(t) // dropped after the daemons are killed
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	carrier := &recordingCarrier{secret: clusterOpenSecret}
	carrierSrv := httptest.NewServer(carrier)
	t.Cleanup(carrierSrv.Close)

	const relay = "{lease: 30s, instance_timeout: 2s}"
	const victim = 1
	var addrs, bases, logs [3]string
	var procs [3]*daemonProc
	configFor := func(i int, inst string) string {
		p := filepath.Join(dir, inst+".yaml")
		writeOpenConfig(t, p, addrs[i], storeDSN, carrierSrv.URL+"/hook?inst="+inst, relay)
		return p
	}
	for i := range 3 {
		addrs[i] = freePort(t)
		bases[i] = "http://" + addrs[i]
		logs[i] = filepath.Join(dir, fmt.Sprintf("omnigate-%d.log", i))
	}
	dumpLogsOnFailure(t, logs[:]...)
	for i := range 3 { // one after the other: the first migrates the schema
		procs[i] = startDaemon(t, bin, configFor(i, fmt.Sprintf("%da", i)), logs[i], bases[i])
	}
	killedInst := fmt.Sprintf("%da", victim)

	client := apiClient(t)
	const contacts, perContact = 30, 100
	const total = contacts * perContact
	var mu sync.Mutex
	accepted := map[string][]string{} // contact -> texts in accepted order
	var acceptedIDs []string
	var nAccepted, retried atomic.Int64
	var next atomic.Uint64
	start := time.Now()
	sendsDeadline := start.Add(120 * time.Second)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); wg.Wait() }) // runs before the daemons are killed
	for c := range contacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			contact := fmt.Sprintf("visitor-%02d", c)
			for n := range perContact {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("%s message %03d", contact, n)
				body := map[string]any{"channel": "open", "to": contact, "text": text}
				for {
					i := next.Add(1) % 3
					code, raw, err := apiCall(client, http.MethodPost, bases[i]+"/v1/messages", clusterAgentKey, body)
					if err != nil {
						// The daemon died under this request or is down: it may or may
						// not have enqueued the message. Send the same text to another;
						// a copy the dead one enqueued is delivered right before it.
						retried.Add(1)
						if time.Now().After(sendsDeadline) {
							t.Errorf("send %q: %v (giving up)", text, err)
							return
						}
						continue
					}
					id := acceptedID(raw)
					if code != http.StatusAccepted || id == "" {
						t.Errorf("send %q to daemon %d: %d %s", text, i, code, raw)
						return
					}
					mu.Lock()
					accepted[contact] = append(accepted[contact], text)
					acceptedIDs = append(acceptedIDs, id)
					mu.Unlock()
					nAccepted.Add(1)
					break
				}
			}
		}()
	}
	sendsDone := make(chan struct{})
	go func() { wg.Wait(); close(sendsDone) }()

	// Mid-way, kill one daemon while sends and deliveries are in flight everywhere.
	waitUntil(t, 120*time.Second, "half the sends to be accepted", func() bool {
		select {
		case <-sendsDone:
			return true
		default:
		}
		return nAccepted.Load() >= total/2
	})
	if nAccepted.Load() < total/2 {
		<-sendsDone
		t.Fatalf("sends stopped after %d accepted", nAccepted.Load())
	}
	if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[victim].done
	killedAt := time.Now()
	acceptedAtKill := nAccepted.Load()
	deliveredAtKill := len(carrier.snapshot())
	// The scenario: the instance stays down for a second, then comes back.
	time.Sleep(time.Second)
	procs[victim] = startDaemon(t, bin, configFor(victim, fmt.Sprintf("%db", victim)), logs[victim], bases[victim])
	<-sendsDone
	if t.Failed() {
		t.FailNow()
	}
	sendsTook := time.Since(start)

	mu.Lock()
	ids := append([]string(nil), acceptedIDs...)
	mu.Unlock()
	// Every accepted message reaches the carrier.
	var missing []string
	if !eventually(60*time.Second, func() bool {
		seen := map[string]bool{}
		for _, r := range carrier.snapshot() {
			seen[r.id] = true
		}
		missing = missing[:0]
		for _, id := range ids {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	}) {
		t.Fatalf("%d of %d accepted messages never reached the carrier (lost), e.g. %v", len(missing), len(ids), missing[:min(5, len(missing))])
	}
	delivered := time.Since(start)
	// And the outbox drains: no row left to post, none dead, so the carrier's record
	// is final.
	outboxEmpty := func(status string) bool {
		code, raw, err := apiCall(client, http.MethodGet, bases[0]+"/v1/outbox?status="+status, clusterPlatformKey, nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /v1/outbox?status=%s: %d %s %v", status, code, raw, err)
		}
		var out struct {
			Entries []json.RawMessage `json:"entries"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("GET /v1/outbox: %v: %s", err, raw)
		}
		return len(out.Entries) == 0
	}
	waitUntil(t, 60*time.Second, "the outbox to drain", func() bool { return outboxEmpty("pending") })
	if !outboxEmpty("dead") {
		t.Error("the outbox has dead letters")
	}

	receipts := carrier.snapshot()
	byID := map[string][]openReceipt{}
	for _, r := range receipts {
		byID[r.id] = append(byID[r.id], r)
	}
	dups := 0
	for id, rs := range byID {
		if len(rs) == 1 {
			continue
		}
		dups++
		killed, others := 0, 0
		for _, r := range rs {
			if r.inst == killedInst {
				killed++
			} else {
				others++
			}
		}
		if rs[0].inst != killedInst || killed > 1 || others > 1 {
			var from []string
			for _, r := range rs {
				from = append(from, fmt.Sprintf("%s at %s", r.inst, r.at.Sub(killedAt).Round(time.Millisecond)))
			}
			t.Errorf("message %s reached the carrier %d times (from %v, relative to the kill); only a post of the killed process may be repeated, once",
				id, len(rs), from)
		}
	}
	// Sends that died with the killed daemon may have enqueued a message whose 202
	// never came back; the same text was accepted right after it by another daemon.
	unanswered := len(byID) - len(ids)
	checkCarrierOrder(t, receipts, accepted)
	if _, _, bad := carrier.counts(); bad > 0 {
		t.Errorf("%d carrier posts had a bad signature or body", bad)
	}
	t.Logf("%d messages accepted over %d contacts in %v (%d sends retried on another daemon); killed daemon %d after %d accepted and %d posts; "+
		"all delivered %v after the first send; %d duplicates, each in flight at the kill; %d posts in all, %d of them of messages enqueued by a send that died",
		len(ids), contacts, sendsTook.Round(time.Millisecond), retried.Load(), victim, acceptedAtKill, deliveredAtKill,
		delivered.Round(time.Millisecond), dups, len(receipts), unanswered)
}

// xAPI is a fake X API v2: it takes DMs on POST /2/dm_conversations/with/{id}/messages
// with the configured user token and answers 201 with the event ids.
type xAPI struct {
	mu  sync.Mutex
	dms []string // recipient ids, in arrival order
	bad int
}

func (a *xAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2/dm_conversations/with/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Text string `json:"text"`
		}
		if r.Header.Get("Authorization") != "Bearer "+clusterXToken || json.NewDecoder(r.Body).Decode(&b) != nil || b.Text == "" {
			a.mu.Lock()
			a.bad++
			a.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"title":"Invalid Request","detail":"bad request","type":"https://api.x.com/2/problems/invalid-request"}`)
			return
		}
		to := r.PathValue("id")
		a.mu.Lock()
		a.dms = append(a.dms, to)
		n := len(a.dms)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"data":{"dm_conversation_id":"%s-%s","dm_event_id":"17%08d"}}`, clusterXUser, to, n)
	})
	return mux
}

func (a *xAPI) received() ([]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.dms...), a.bad
}

// TestClusterXReplyCap sends 100 concurrent replies to one X conversation through three
// daemons sharing one PostgreSQL schema: the reply cap is decided in the transaction
// that enqueues, whichever instance runs it, so exactly 5 are accepted and delivered.
func TestClusterXReplyCap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	storeDSN := storetest.PostgresSchema(t) // dropped after the daemons are killed
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	api := &xAPI{}
	xSrv := httptest.NewServer(api.handler())
	t.Cleanup(xSrv.Close)

	var bases, logs [3]string
	for i := range 3 {
		addr := freePort(t)
		bases[i] = "http://" + addr
		logs[i] = filepath.Join(dir, fmt.Sprintf("omnigate-%d.log", i))
		cfg := fmt.Sprintf(`listen: %q
store: %q
sandbox: false
queues:
  - id: support
    name: Support
    addresses: {x: %q}
principals:
  - id: agent
    key_sha256: %q
    permissions: [conversation:message:create]
    queues: [support]
    default_queue: support
  - id: platform
    key_sha256: %q
    permissions: [routing:conversation:assign, admin]
    queues: ["*"]
providers:
  x:
    consumer_secret: %q
    bearer_tokens: {%q: %q}
    base_url: %q
relay: {instance_timeout: 2s}
shutdown_timeout: 5s
log: {level: warn}
`, addr, storeDSN, clusterXUser, keyHash(clusterAgentKey), keyHash(clusterPlatformKey),
			clusterXSecret, clusterXUser, clusterXToken, xSrv.URL)
		p := filepath.Join(dir, fmt.Sprintf("omnigate-%d.yaml", i))
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		startDaemon(t, bin, p, logs[i], bases[i])
	}
	dumpLogsOnFailure(t, logs[:]...)
	client := apiClient(t)

	// The contact writes first (to daemon 0), so a conversation exists; the platform
	// assigns it to the agent (through daemon 1).
	const contact = "3001969357"
	dm := fmt.Sprintf(`{"for_user_id":%q,"direct_message_events":[{"type":"message_create","id":"954491830116155396",
"created_timestamp":"%d","message_create":{"target":{"recipient_id":%q},"sender_id":%q,"source_app_id":"13090192",
"message_data":{"text":"Hello World!","entities":{"hashtags":[],"symbols":[],"user_mentions":[],"urls":[]}}}}],
"users":{%q:{"id":%q,"name":"Jordan Brinks","screen_name":"jordan"},%q:{"id":%q,"name":"Acme Support","screen_name":"acmesupport"}}}`,
		clusterXUser, time.Now().UnixMilli(), clusterXUser, contact, contact, contact, clusterXUser, clusterXUser)
	req, _ := http.NewRequest(http.MethodPost, bases[0]+"/webhooks/x", strings.NewReader(dm))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(x.SignatureHeader, x.Sign(clusterXSecret, []byte(dm)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("X webhook: %d %s", resp.StatusCode, raw)
	}
	code, raw, err := apiCall(client, http.MethodGet, bases[1]+"/v1/conversations?channel=x&address="+contact, clusterPlatformKey, nil)
	var list struct {
		Conversations []struct {
			ID string `json:"id"`
		} `json:"conversations"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal(raw, &list) != nil || len(list.Conversations) == 0 {
		t.Fatalf("conversations with %s: %d %s %v", contact, code, raw, err)
	}
	conv := list.Conversations[0].ID
	if code, raw, err := apiCall(client, http.MethodPost, bases[1]+"/v1/conversations/"+conv+"/assign", clusterPlatformKey,
		map[string]any{"principal": "agent"}); err != nil || code != http.StatusOK {
		t.Fatalf("assign %s: %d %s %v", conv, code, raw, err)
	}

	// 100 replies at once, round-robin over the three daemons.
	const senders = 100
	codes := make([]int, senders)
	bodies := make([][]byte, senders)
	errs := make([]error, senders)
	barrier := make(chan struct{})
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-barrier
			codes[i], bodies[i], errs[i] = apiCall(client, http.MethodPost, bases[i%3]+"/v1/messages", clusterAgentKey,
				map[string]any{"channel": "x", "to": contact, "text": fmt.Sprintf("reply %d", i)})
		}()
	}
	close(barrier)
	wg.Wait()

	var accepted []string
	capped := 0
	for i := range senders {
		var out struct {
			ID             string `json:"id"`
			ConversationID string `json:"conversation_id"`
			Error          struct {
				Code string `json:"code"`
				Rule string `json:"rule"`
			} `json:"error"`
		}
		json.Unmarshal(bodies[i], &out)
		switch {
		case errs[i] != nil:
			t.Errorf("send %d to daemon %d: %v", i, i%3, errs[i])
		case codes[i] == http.StatusAccepted && out.ID != "":
			accepted = append(accepted, out.ID)
			if out.ConversationID != conv {
				t.Errorf("reply %d went to conversation %s, want %s", i, out.ConversationID, conv)
			}
		case codes[i] == http.StatusUnprocessableEntity && out.Error.Code == "policy_denied" && out.Error.Rule == "reply_cap":
			capped++
		default:
			t.Errorf("send %d to daemon %d: %d %s", i, i%3, codes[i], bodies[i])
		}
	}
	if len(accepted) != 5 || capped != 95 {
		t.Fatalf("%d accepted and %d refused with reply_cap, want 5 and 95", len(accepted), capped)
	}
	for _, id := range accepted {
		waitUntil(t, 60*time.Second, "reply "+id+" to be sent", func() bool {
			return messageStatus(t, client, bases[2], clusterAgentKey, id) == "sent"
		})
	}
	dms, bad := api.received()
	if len(dms) != 5 || bad > 0 {
		t.Errorf("the X API received %d DMs (%d bad requests), want 5", len(dms), bad)
	}
	for _, to := range dms {
		if to != contact {
			t.Errorf("a DM went to %s, want %s", to, contact)
		}
	}
}
