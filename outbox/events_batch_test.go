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

// TestBatchedEventsKeepOrder: with events.batch on, the relay's workers still deliver
// every event of a conversation in order, even when batches are refused with 503 and
// retried event by event: no batch carries two events of one conversation, none holds
// more than the batch size, and each event is accepted once.
func TestBatchedEventsKeepOrder(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	const convs, perConv, batch = 10, 20, 8
	var mu sync.Mutex
	posts := 0
	accepted := map[string][]int{} // conversation -> seq of the events accepted, in order
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := events.Verify([]byte("s"), body, r.Header.Get(events.SignatureHeader), time.Now(), 0); err != nil {
			t.Errorf("post does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		evs, err := events.Split(body)
		if err != nil || r.Header.Get(events.BatchCountHeader) != fmt.Sprint(len(evs)) || len(evs) > batch {
			t.Errorf("post %s (count %q): %v", body, r.Header.Get(events.BatchCountHeader), err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		type event struct {
			ConversationID string `json:"conversation_id"`
			Data           struct {
				Seq int `json:"seq"`
			} `json:"data"`
		}
		var got []event
		seen := map[string]bool{}
		for _, raw := range evs {
			var ev event
			json.Unmarshal(raw, &ev)
			if seen[ev.ConversationID] {
				t.Errorf("one batch carries two events of %s: %s", ev.ConversationID, body)
			}
			seen[ev.ConversationID] = true
			got = append(got, ev)
		}
		mu.Lock()
		defer mu.Unlock()
		posts++
		if posts%3 == 2 && posts < 20 { // some batches fail, and are retried row by row
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		for _, ev := range got {
			accepted[ev.ConversationID] = append(accepted[ev.ConversationID], ev.Data.Seq)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(platform.Close)
	carrierSrv := startCarrier(t, &carrier{})
	startRelay(t, st, carrierSrv, "relay", func(cfg *outbox.Config) {
		cfg.Workers = 16
		cfg.InitialBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
		cfg.BreakerTimeout = 50 * time.Millisecond
		cfg.Events = &events.Sink{URL: platform.URL, Secret: []byte("s"), Client: platform.Client(), Batch: batch}
	})
	// One transaction, interleaving conversations, so the relay claims many at once.
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for seq := range perConv {
			for c := range convs {
				e, err := events.Entry(events.TypeTyping, fmt.Sprintf("conv-%d", c), map[string]int{"seq": seq}, time.Now())
				if err != nil {
					return err
				}
				if err := tx.Enqueue(e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every event accepted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, seqs := range accepted {
			n += len(seqs)
		}
		return n >= convs*perConv
	})
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
