package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"
)

// TestCappedBody: a body at the cap streams whole; one byte more fails the read
// instead of ending short, whatever the carrier announced.
func TestCappedBody(t *testing.T) {
	for _, tt := range []struct {
		size, cap int
		tooLarge  bool
	}{{10, 10, false}, {9, 10, false}, {11, 10, true}, {70000, 65536, true}} {
		data := bytes.Repeat([]byte{0xAB}, tt.size)
		got, err := io.ReadAll(&cappedBody{rc: io.NopCloser(bytes.NewReader(data)), left: int64(tt.cap)})
		if tt.tooLarge != errors.Is(err, ErrMediaTooLarge) {
			t.Errorf("size %d cap %d: err = %v, want too large = %v", tt.size, tt.cap, err, tt.tooLarge)
		}
		if !tt.tooLarge && !bytes.Equal(got, data) {
			t.Errorf("size %d cap %d: got %d bytes", tt.size, tt.cap, len(got))
		}
	}
}

// TestMediaHold: a link is served until it expires, is gone after, and the hold never
// grows past MaxHeldMedia.
func TestMediaHold(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	h := &mediaHold{}
	if !h.put("a", "https://cdn/a", now.Add(time.Hour), now) {
		t.Fatal("put refused")
	}
	if u, ok := h.get("a", now.Add(59*time.Minute)); !ok || u != "https://cdn/a" {
		t.Errorf("before expiry: %q %v", u, ok)
	}
	if _, ok := h.get("a", now.Add(time.Hour)); ok {
		t.Error("served at expiry")
	}
	for i := range MaxHeldMedia {
		h.put("id"+strconv.Itoa(i), "u", now.Add(time.Hour), now)
	}
	if h.put("one-more", "u", now.Add(time.Hour), now) {
		t.Error("the hold grew past its cap")
	}
	if !h.put("after-expiry", "u", now.Add(3*time.Hour), now.Add(2*time.Hour)) {
		t.Error("expired links were not purged to make room")
	}
}

// TestPrepareEventAfterRestart: a fresh service (a restarted process) holds no link,
// so an ephemeral media in a waiting event goes out marked unavailable; other media
// and other events pass unchanged.
func TestPrepareEventAfterRestart(t *testing.T) {
	s := &Service{cfg: Config{Now: time.Now}, media: &mediaHold{}}
	plain := []byte(`{"id":"evt_1","type":"message.inbound","data":{"media":[{"id":"med_1","url":"https://o/v1/media/med_1"}]}}`)
	if got := s.PrepareEvent(plain); !bytes.Equal(got, plain) {
		t.Errorf("non-ephemeral event rewritten: %s", got)
	}
	story := []byte(`{"id":"evt_2","type":"message.inbound","data":{"story_mention":true,"media":[{"id":"med_2","url":"https://o/v1/media/med_2","ephemeral":true}]}}`)
	var ev struct {
		ID   string `json:"id"`
		Data struct {
			StoryMention bool             `json:"story_mention"`
			Media        []map[string]any `json:"media"`
		} `json:"data"`
	}
	if err := json.Unmarshal(s.PrepareEvent(story), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "evt_2" || !ev.Data.StoryMention || len(ev.Data.Media) != 1 || ev.Data.Media[0]["available"] != false {
		t.Errorf("prepared = %+v, want the media marked unavailable and the rest kept", ev)
	}
	s.media.put("med_2", "https://cdn/story", time.Now().Add(time.Hour), time.Now())
	json.Unmarshal(s.PrepareEvent(story), &ev)
	if ev.Data.Media[0]["available"] != true {
		t.Errorf("held media marked %v, want available", ev.Data.Media[0]["available"])
	}
}
