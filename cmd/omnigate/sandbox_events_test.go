package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/events"
)

// TestSandboxPlatformBatches: the sandbox's platform keeps each event of a batched
// post on its own, in order, beside events posted alone, and hands each to the
// console's subscribers; a batch that does not verify is refused whole.
func TestSandboxPlatformBatches(t *testing.T) {
	secret := []byte("sandbox-events-secret")
	s := &eventSink{secret: secret}
	_, next, cancel := s.subscribe()
	defer cancel()
	post := func(body string, sig string) int {
		req := httptest.NewRequest(http.MethodPost, "/sandbox/events", strings.NewReader(body))
		req.Header.Set(events.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code
	}
	single := `{"id":"evt_1","type":"typing"}`
	batch := `{"events":[{"id":"evt_2","type":"typing"},{"id":"evt_3","type":"message.inbound"}]}`
	if code := post(single, events.Sign(secret, []byte(single), time.Now())); code != http.StatusNoContent {
		t.Errorf("single event: %d", code)
	}
	if code := post(batch, events.Sign(secret, []byte(batch), time.Now())); code != http.StatusNoContent {
		t.Errorf("batch: %d", code)
	}
	if code := post(batch, events.Sign([]byte("other"), []byte(batch), time.Now())); code != http.StatusUnauthorized {
		t.Errorf("batch under another secret: %d, want 401", code)
	}
	bad := `{"events":[1,2]}`
	if code := post(bad, events.Sign(secret, []byte(bad), time.Now())); code != http.StatusBadRequest {
		t.Errorf("batch of non-events: %d, want 400", code)
	}

	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sandbox/events", nil))
	var kept struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &kept); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range kept.Events {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, " ") != "evt_1 evt_2 evt_3" {
		t.Errorf("kept %v, want evt_1 evt_2 evt_3", ids)
	}
	for _, want := range []string{single, `{"id":"evt_2","type":"typing"}`, `{"id":"evt_3","type":"message.inbound"}`} {
		if got := string(<-next); got != want {
			t.Errorf("subscriber got %s, want %s", got, want)
		}
	}
}

// TestEventsBatchLimit: the configuration refuses exactly the batch sizes the sink
// does not take.
func TestEventsBatchLimit(t *testing.T) {
	if config.MaxEventsBatch != events.MaxBatch {
		t.Errorf("config allows events.batch up to %d, the sink takes %d", config.MaxEventsBatch, events.MaxBatch)
	}
}
