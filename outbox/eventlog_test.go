package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// TestEventLogAcrossRelays: three relays on one PostgreSQL database post the event log
// while conversations append to it, the platform refuses some posts (those events go
// through the outbox's retries), and the relay that first held the log's lease stops
// half-way. Every event arrives, and each conversation's events arrive in the order
// they were written (a repeated event id is dropped, as the receiver is told to).
func TestEventLogAcrossRelays(t *testing.T) {
	t.Parallel()
	st := openPostgres(t)
	const convs, perConv = 12, 40
	var mu sync.Mutex
	posts := 0
	seen := map[string]bool{}
	accepted := map[string][]int{} // conversation -> seq of the events accepted, first arrivals
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			ID             string `json:"id"`
			ConversationID string `json:"conversation_id"`
			Data           struct {
				Seq int `json:"seq"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("post %s: %v", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		posts++
		if posts%7 == 3 && posts < 200 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !seen[ev.ID] {
			seen[ev.ID] = true
			accepted[ev.ConversationID] = append(accepted[ev.ConversationID], ev.Data.Seq)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(platform.Close)
	carrierSrv := startCarrier(t, &carrier{})
	tune := func(cfg *outbox.Config) {
		cfg.InitialBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
		cfg.BreakerTimeout = 50 * time.Millisecond
		cfg.InstanceTimeout = time.Second
		cfg.Events = &events.Sink{URL: platform.URL, Secret: []byte("s"), Client: platform.Client()}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	write := func(c, from, to int) {
		for seq := from; seq < to; seq++ {
			e, err := events.Entry(events.TypeTyping, fmt.Sprintf("conv-%d", c), map[string]int{"seq": seq}, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Enqueue(e) }); err != nil {
				t.Error(err)
				return
			}
		}
	}
	writeAll := func(from, to int) {
		var wg sync.WaitGroup
		for c := range convs {
			wg.Go(func() { write(c, from, to) })
		}
		wg.Wait()
	}

	// The first relay runs alone until it has posted: it holds the lease.
	first, err := outbox.New(relayConfig(t, st, carrierSrv, "relay-0", tune))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() { stopFirst(); <-firstDone })
	writeAll(0, 5)
	waitFor(t, "the first relay to post", func() bool { return count() > 0 })
	startRelay(t, st, carrierSrv, "relay-1", tune)
	startRelay(t, st, carrierSrv, "relay-2", tune)
	var wg sync.WaitGroup
	wg.Go(func() { writeAll(5, perConv) })
	waitFor(t, "half the events", func() bool { return count() >= convs*perConv/2 })
	stopFirst()
	if err := <-firstDone; err != nil {
		t.Errorf("relay-0: %v", err)
	}
	firstDone <- nil // for the cleanup
	wg.Wait()
	waitFor(t, "every event", func() bool { return count() >= convs*perConv })

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d events in %d posts", convs*perConv, posts)
	want := make([]int, perConv)
	for i := range want {
		want[i] = i
	}
	for c := range convs {
		if got := accepted[fmt.Sprintf("conv-%d", c)]; !slices.Equal(got, want) {
			t.Errorf("conv-%d accepted %v, want %v", c, got, want)
		}
	}
}

// TestEventLogTakenFromDeadHolder: the instance holding the event log's lease dies (it
// stops heartbeating, its lease has an hour to run): a live relay reaps it and posts
// the log within seconds, not when the lease would have ended.
func TestEventLogTakenFromDeadHolder(t *testing.T) {
	t.Parallel()
	st := openPostgres(t)
	now := time.Now()
	if _, err := st.Heartbeat(context.Background(), store.Heartbeat{Owner: "ghost", Now: now, LeaseUntil: now.Add(time.Hour), DeadBefore: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.LeaseEvents(context.Background(), store.EventLease{Owner: "ghost", Now: now, Until: now.Add(time.Hour)}); !ok || err != nil {
		t.Fatalf("ghost's lease: %v %v", ok, err)
	}
	var mu sync.Mutex
	var got []string
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	t.Cleanup(platform.Close)
	e, err := events.Entry(events.TypeTyping, "conv-1", map[string]bool{"typing": true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Enqueue(e) }); err != nil {
		t.Fatal(err)
	}
	startRelay(t, st, startCarrier(t, &carrier{}), "relay", func(cfg *outbox.Config) {
		cfg.InstanceTimeout = time.Second
		cfg.Events = &events.Sink{URL: platform.URL, Secret: []byte("s"), Client: platform.Client()}
	})
	// waitFor gives up after a minute: long before the ghost's lease would end.
	waitFor(t, "the event posted by the live relay", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
}

// TestEventLogShutdownMidPost: the relay stops while the platform holds a post past the
// drain deadline. The cut-short event stays in the log for the next poster: it is not
// taken for a failure and moved to the outbox, nor lost.
func TestEventLogShutdownMidPost(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(platform.Close)
	t.Cleanup(func() { close(release) })
	r, err := outbox.New(relayConfig(t, st, startCarrier(t, &carrier{}), "relay", func(cfg *outbox.Config) {
		cfg.Events = &events.Sink{URL: platform.URL, Secret: []byte("s"), Client: platform.Client()}
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, 100*time.Millisecond) }()
	e, err := events.Entry(events.TypeTyping, "conv-1", map[string]bool{"typing": true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Enqueue(e) }); err != nil {
		t.Fatal(err)
	}
	<-arrived
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := st.ReadEvents(context.Background(), 10)
	if err != nil || len(b.Events) != 1 || string(b.Events[0].Payload) != string(e.Payload) {
		t.Fatalf("log after shutdown = %+v, %v: want the event still there", b.Events, err)
	}
	if rows, _ := st.Outbox(context.Background(), store.OutboxPending, 0, 10); len(rows) != 0 {
		t.Errorf("outbox after shutdown = %+v, want nothing moved there", rows)
	}
}
