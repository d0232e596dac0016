package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omnigate/omnigate/events"
)

// TestFakeEventCounts: the fake platform counts one event for a plain post and each
// event of a batch, and refuses a batch whose count header disagrees with its body.
func TestFakeEventCounts(t *testing.T) {
	f := &fakes{}
	post := func(body, count string) int {
		req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
		if count != "" {
			req.Header.Set(events.BatchCountHeader, count)
		}
		rec := httptest.NewRecorder()
		f.event(rec, req)
		return rec.Code
	}
	if code := post(`{"id":"evt_1","type":"typing"}`, ""); code != http.StatusNoContent {
		t.Errorf("one event: %d", code)
	}
	if code := post(`{"events":[{"id":"evt_2"},{"id":"evt_3"},{"id":"evt_4"}]}`, "3"); code != http.StatusNoContent {
		t.Errorf("batch of 3: %d", code)
	}
	if code := post(`{"events":[{"id":"evt_5"},{"id":"evt_6"}]}`, "3"); code != http.StatusBadRequest {
		t.Errorf("batch of 2 counted 3: %d, want 400", code)
	}
	if code := post(`{"events":[{"id":"evt_7"}`, "1"); code != http.StatusBadRequest {
		t.Errorf("cut batch: %d, want 400", code)
	}
	if got, posts := f.events.Load(), f.posts.Load(); got != 4 || posts != 2 {
		t.Errorf("counted %d events in %d posts, want 4 in 2", got, posts)
	}
}
