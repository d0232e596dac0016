package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// chaosCarrier is a fake open-messaging integration that misbehaves at set rates (per
// mille of posts): 5xx, 429 with Retry-After, a hang after the whole request was read
// (the ambiguous case: the relay cannot know whether the message arrived), a connection
// reset, and a slow body. A message's first faultPosts posts may misbehave and later
// ones succeed, so every message can be delivered within the relay's attempts; a
// contact in refuse is refused for good (400). outage answers 500 to everything.
type chaosCarrier struct {
	rate5xx, rate429, rateHang, rateReset, rateSlow int
	faultPosts                                      int
	refuse                                          func(contact string) bool

	outage atomic.Bool
	total  atomic.Int64

	mu    sync.Mutex
	posts map[string]int
	ok    map[string]int // 200s answered per message id
}

func (c *chaosCarrier) pick(id string, n int) string {
	if n >= c.faultPosts {
		return "ok"
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", id, n)
	r := int(h.Sum32() % 1000)
	for _, f := range []struct {
		rate int
		name string
	}{{c.rate5xx, "5xx"}, {c.rate429, "429"}, {c.rateHang, "hang"}, {c.rateReset, "reset"}, {c.rateSlow, "slow"}} {
		if r < f.rate {
			return f.name
		}
		r -= f.rate
	}
	return "ok"
}

func (c *chaosCarrier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var m struct {
		ID      string `json:"id"`
		Channel struct {
			To struct {
				ID string `json:"id"`
			} `json:"to"`
		} `json:"channel"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID == "" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	c.total.Add(1)
	c.mu.Lock()
	n := c.posts[m.ID]
	c.posts[m.ID]++
	c.mu.Unlock()
	if c.outage.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"code":"outage","message":"everything is down"}`)
		return
	}
	if c.refuse(m.Channel.To.ID) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":"bad.request","message":"recipient blocked"}`)
		return
	}
	switch c.pick(m.ID, n) {
	case "5xx":
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, `{"code":"upstream","message":"bad gateway"}`)
		return
	case "429":
		w.Header().Set("Retry-After", "2") // longer than the client waits inline: the outbox waits
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"code":"rate_limited","message":"slow down"}`)
		return
	case "hang":
		<-r.Context().Done() // read, never answered: the attempt times out
		return
	case "reset":
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
					tc.SetLinger(0) // RST rather than FIN
				}
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case "slow":
		w.WriteHeader(http.StatusOK)
		for _, part := range []string{`{"id":`, `"carrier-`, m.ID, `"}`} {
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond) // a carrier dribbling its answer, well within the timeout
		}
	default:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"id":"carrier-`+m.ID+`"}`)
	}
	c.mu.Lock()
	c.ok[m.ID]++
	c.mu.Unlock()
}

func (c *chaosCarrier) postsFor(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts[id]
}

// breakerLog is an outbox.Observer that records breaker transitions and, once counting
// is on, how many attempts reached past the breaker (spent) or waited on it.
type breakerLog struct {
	mu     sync.Mutex
	states []string

	counting      atomic.Bool
	spent, waited atomic.Int64
}

func (b *breakerLog) Attempt(_ string, _ omnigate.Channel, _ string, outcome string, _ time.Duration) {
	if !b.counting.Load() {
		return
	}
	if outcome == "breaker_open" {
		b.waited.Add(1)
	} else {
		b.spent.Add(1)
	}
}
func (b *breakerLog) MessageStatus(omnigate.Message, omnigate.MessageStatus) {}
func (b *breakerLog) Claim(int)                                              {}
func (b *breakerLog) BreakerState(account, state string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.states = append(b.states, state)
}

func (b *breakerLog) count(state string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.states {
		if s == state {
			n++
		}
	}
	return n
}

func (b *breakerLog) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.states) == 0 {
		return ""
	}
	return b.states[len(b.states)-1]
}

// TestChaosCarrier sends a few thousand messages through the real relay to a carrier
// that fails in every way a carrier does, then through a full outage: every message
// ends sent or failed with the carrier's reason, none is lost, attempts stay within
// their bound, the breaker opens during the outage without spending attempts, and it
// closes after.
func TestChaosCarrier(t *testing.T) {
	t.Parallel()
	const maxAttempts = 10
	n := chaosMessages
	st := openSQLite(t)
	c := &chaosCarrier{rate5xx: 80, rate429: 30, rateHang: 15, rateReset: 40, rateSlow: 30, faultPosts: 5,
		refuse: func(contact string) bool { return contact == "contact-0" || contact == "contact-7" },
		posts:  map[string]int{}, ok: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	breakers := &breakerLog{}
	const workers = 16
	startRelay(t, st, srv, "chaos", func(cfg *outbox.Config) {
		cfg.Workers, cfg.MaxAttempts = workers, maxAttempts
		cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 50*time.Millisecond
		cfg.Lease, cfg.AttemptTimeout = 10*time.Second, 500*time.Millisecond
		cfg.BreakerTimeout = 100 * time.Millisecond
		cfg.Observer = breakers
	})

	enq := newEnqueuer(st)
	var ids []string
	refused := map[string]bool{}
	for batch := 0; batch < n/100; batch++ {
		var msgs []outMsg
		for i := range 100 {
			msgs = append(msgs, outMsg{contact: fmt.Sprintf("contact-%d", (batch*100+i)%100), text: fmt.Sprintf("m%d", batch*100+i)})
		}
		got := enq.enqueue(t, msgs...)
		for i, id := range got {
			if c.refuse(msgs[i].contact) {
				refused[id] = true
			}
		}
		ids = append(ids, got...)
	}
	// A few thousand messages through faults take a while on a loaded machine; the long
	// deadline only catches a relay that stopped.
	waitForUpTo(t, 5*time.Minute, "every message to end", func() bool {
		rows, err := st.Outbox(context.Background(), store.OutboxPending, 0, 1)
		return err == nil && len(rows) == 0 // one query, not one per message
	})
	for _, id := range ids {
		m := message(t, st, id)
		switch {
		case refused[id]:
			if m.Status != omnigate.StatusFailed || m.ErrorCode != "bad.request" {
				t.Errorf("%s: %s %q, want failed with the carrier's code", id, m.Status, m.ErrorCode)
			}
		case m.Status != omnigate.StatusSent:
			t.Errorf("%s: %s (%s: %s), want sent: every fault ends after %d posts", id, m.Status, m.ErrorCode, m.ErrorMessage, c.faultPosts)
		}
		// Faults stop after faultPosts posts, so a message needs at most faultPosts+1
		// attempts; more would mean attempts spent without reaching the carrier.
		if m.Attempts > c.faultPosts+1 || m.Attempts > maxAttempts {
			t.Errorf("%s: %d attempts", id, m.Attempts)
		}
		// Each attempt posts once, or up to three times when the post provably never
		// arrived; anything more is a hot loop.
		if p := c.postsFor(id); p > 3*m.Attempts || p == 0 {
			t.Errorf("%s: %d posts for %d attempts", id, p, m.Attempts)
		}
	}
	ctx := context.Background()
	if rows, err := st.Outbox(ctx, store.OutboxPending, 0, 10); err != nil || len(rows) != 0 {
		t.Errorf("pending rows remain: %v %+v", err, rows)
	}
	if rows, err := st.Outbox(ctx, store.OutboxDead, 0, 10); err != nil || len(rows) != 0 {
		t.Errorf("dead letters: %v %+v", err, rows)
	}

	// A full outage: the breaker opens, rows wait without spending attempts, and once
	// the carrier is back the breaker closes and everything is sent.
	opens, halfOpens := breakers.count("open"), breakers.count("half-open")
	breakers.counting.Store(true) // every row of the first part is done: what follows is the outage's
	c.outage.Store(true)
	before := c.total.Load()
	var outageIDs []string
	for i := range 100 {
		outageIDs = append(outageIDs, enq.enqueue(t, outMsg{contact: fmt.Sprintf("outage-%d", i), text: "during the outage"})...)
	}
	waitFor(t, "the breaker to open and probe twice", func() bool {
		return breakers.count("open") > opens && breakers.count("half-open") >= halfOpens+2
	})
	c.outage.Store(false)
	during := c.total.Load() - before
	probes := int64(breakers.count("half-open") - halfOpens)
	// Before it opens, five failures in a row and whatever was in flight reach the
	// carrier; after, one probe per half-open and the attempts that race with it.
	if limit := 5 + 2*workers + 2*probes; during > limit {
		t.Errorf("%d posts during the outage (%d probes), want at most %d: the breaker does not hold the carrier off", during, probes, limit)
	}
	waitFor(t, "the outage's messages to be sent", func() bool {
		for _, id := range outageIDs {
			if message(t, st, id).Status != omnigate.StatusSent {
				return false
			}
		}
		return true
	})
	// The outage lasted long enough for many waits on the open breaker; had they spent
	// attempts, messages would have run out of them and become dead letters.
	for _, id := range outageIDs {
		if m := message(t, st, id); m.Attempts > maxAttempts {
			t.Errorf("%s: %d attempts after the outage", id, m.Attempts)
		}
	}
	if rows, err := st.Outbox(ctx, store.OutboxDead, 0, 10); err != nil || len(rows) != 0 {
		t.Errorf("dead letters after the outage: %v %+v", err, rows)
	}
	if breakers.waited.Load() == 0 {
		t.Errorf("no attempt waited on the open breaker")
	}
	// Exactly: only attempts that got past the breaker are counted against a message.
	var attempts int64
	for _, id := range outageIDs {
		attempts += int64(message(t, st, id).Attempts)
	}
	if attempts != breakers.spent.Load() {
		t.Errorf("the outage's messages count %d attempts; %d reached past the breaker and %d waited on it",
			attempts, breakers.spent.Load(), breakers.waited.Load())
	}
	waitFor(t, "the breaker to close", func() bool { return breakers.last() == "closed" })
}

// waitForUpTo is waitFor with its own deadline.
func waitForUpTo(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
