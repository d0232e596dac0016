package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
)

// TestStoryLinkNeverOnDisk: while a story mention's event waits for a platform that is
// down, the story's link is in no file of the database folder (db, -wal, -shm), though
// the event and the message are; /v1/media/{id} streams the story until it expires and
// refuses it after; the event, delivered once the platform is back, marks the media
// unavailable.
func TestStoryLinkNeverOnDisk(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const igsid = "5318329871529999"
	const secret = "storysig7f3a9c"
	link := h.graph.srv.URL + "/cdn/story/asset17895695668004551.jpg?signature=" + secret
	h.platform.setDown(func([]byte) bool { return true })

	at := h.clk.Now()
	h.postMeta(t, payload(t, "instagram_story_mention", inbound{Page: igAccount, From: igsid, MID: "ig_story_disk", URL: link, At: at}))
	// The conversation's first event (opened) is refused; the story's waits behind it
	// in the outbox.
	waitFor(t, "the platform to refuse the conversation's first event", func() bool {
		for _, r := range h.platform.requests() {
			if !r.Accepted {
				return true
			}
		}
		return false
	})
	conv := h.latestConversation(t, omnigate.Instagram, igsid)
	msgs := objs(h.conversation(t, conv), "messages")
	if len(msgs) != 1 || len(objs(msgs[0], "media")) != 1 {
		t.Fatalf("history = %v, want the story with its media", msgs)
	}
	mediaID := str(objs(msgs[0], "media")[0], "id")
	if len(h.platform.matching(mediaID)) != 0 {
		t.Fatalf("the story's event was posted already; it should wait in the outbox")
	}

	files, err := os.ReadDir(h.dbDir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(h.dbDir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		names[f.Name()] = true
		for _, needle := range []string{secret, "asset17895695668004551", "/cdn/story/"} {
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("%s holds the story link (%q)", f.Name(), needle)
			}
		}
		if f.Name() == "omnigate.db-wal" && !bytes.Contains(b, []byte(mediaID)) {
			t.Errorf("the WAL does not hold the waiting event's media id: the check above proves nothing")
		}
	}
	for _, want := range []string{"omnigate.db", "omnigate.db-wal", "omnigate.db-shm"} {
		if !names[want] {
			t.Errorf("no %s in the database folder (%v): the check covers less than it claims", want, names)
		}
	}

	// Held in memory: served to the queue's agent, bytes as the CDN has them.
	code, _, got := h.getMedia(t, annKey, h.url+"/v1/media/"+mediaID)
	if code != http.StatusOK || !bytes.Equal(got, mediaBytes("/cdn/story/asset17895695668004551.jpg")) {
		t.Fatalf("GET story media: %d, %d bytes", code, len(got))
	}
	// Expired: refused, never served from a copy.
	h.clk.Set(at.Add(24*time.Hour + time.Second))
	before := len(carrierCalls(h.graph))
	code, _, body := h.getMedia(t, annKey, h.url+"/v1/media/"+mediaID)
	var out obj
	json.Unmarshal(body, &out)
	wantError(t, "expired story media", code, out, http.StatusGone, "media_expired")
	if len(carrierCalls(h.graph)) != before {
		t.Errorf("an expired story was fetched from the CDN")
	}

	// The platform is back: the event arrives with the media marked unavailable.
	h.platform.setDown(nil)
	h.advance(time.Hour)
	var delivered []platformEvent
	waitFor(t, "the story's event", func() bool {
		for _, e := range h.eventsOf("message.inbound") {
			if bytes.Contains(e.Data, []byte(mediaID)) {
				delivered = append(delivered, e)
			}
		}
		return len(delivered) > 0
	})
	var data struct {
		Media []map[string]any `json:"media"`
	}
	json.Unmarshal(delivered[0].Data, &data)
	if len(data.Media) != 1 || data.Media[0]["available"] != false {
		t.Errorf("delivered story media = %v, want it marked available: false", data.Media)
	}
}
