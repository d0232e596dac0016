package events_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/omnigate/omnigate/events"
)

// A platform receiving omnigate's events verifies each one before trusting it: the
// signature covers the timestamp and the raw body, and a timestamp older than the
// tolerance is refused, so a captured event cannot be replayed.
func ExampleVerify() {
	secret := []byte("the events.secret from omnigate.yaml")

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		// Verify the raw bytes, before parsing them.
		if err := events.Verify(secret, body, r.Header.Get(events.SignatureHeader), time.Now(), events.DefaultTolerance); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Then drop an X-Omnigate-Event-Id already processed: omnigate retries until it
		// gets a 2xx, so the same event may arrive twice.
		fmt.Println("accepted", r.Header.Get("X-Omnigate-Event-Id"))
		w.WriteHeader(http.StatusNoContent)
	})

	body := `{"id":"evt_1","type":"message.inbound","created_at":"2026-03-01T12:00:00Z","conversation_id":"conv_1","data":{}}`
	for _, sentAt := range []time.Time{time.Now(), time.Now().Add(-time.Hour)} {
		req := httptest.NewRequest(http.MethodPost, "/omnigate/events", strings.NewReader(body))
		req.Header.Set(events.SignatureHeader, events.Sign(secret, []byte(body), sentAt))
		req.Header.Set("X-Omnigate-Event-Id", "evt_1")
		w := httptest.NewRecorder()
		receiver.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	// Output:
	// accepted evt_1
	// 204
	// 401
}

// A receiver that takes both formats (events.batch 1 and above) verifies the whole body,
// splits it into its events and drops each event whose id it has already processed: a
// batch that failed is retried event by event, so an event may come again in another
// batch.
func ExampleSplit() {
	secret := []byte("the events.secret from omnigate.yaml")
	seen := map[string]bool{}

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		if err := events.Verify(secret, body, r.Header.Get(events.SignatureHeader), time.Now(), events.DefaultTolerance); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		evs, err := events.Split(body)
		if err != nil {
			http.Error(w, "not events", http.StatusBadRequest)
			return
		}
		for _, raw := range evs {
			var ev events.Event
			if json.Unmarshal(raw, &ev) != nil || seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			fmt.Println("processed", ev.ID, ev.Type)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	for _, body := range []string{
		`{"id":"evt_1","type":"message.inbound","created_at":"2026-03-01T12:00:00Z","conversation_id":"conv_1","data":{}}`,
		`{"events":[{"id":"evt_1","type":"message.inbound","created_at":"2026-03-01T12:00:00Z","conversation_id":"conv_1","data":{}},` +
			`{"id":"evt_2","type":"typing","created_at":"2026-03-01T12:00:01Z","conversation_id":"conv_2","data":{}}]}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/omnigate/events", strings.NewReader(body))
		req.Header.Set(events.SignatureHeader, events.Sign(secret, []byte(body), time.Now()))
		w := httptest.NewRecorder()
		receiver.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	// Output:
	// processed evt_1 message.inbound
	// 204
	// processed evt_2 typing
	// 204
}
