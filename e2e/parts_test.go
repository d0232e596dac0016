package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
)

// graphPart is what the fake Graph received on one Send API call.
type graphPart struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Message struct {
		Text       string `json:"text"`
		Attachment *struct {
			Type    string `json:"type"`
			Payload struct {
				URL string `json:"url"`
			} `json:"payload"`
		} `json:"attachment"`
	} `json:"message"`
}

// TestMessengerTextWithMediaInParts: Messenger text with two attachments goes out as
// three Send API messages, attachments in order then the text, each a message of its
// own with its carrier id.
func TestMessengerTextWithMediaInParts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const psid = "1254459154682920"
	h.postMeta(t, payload(t, "messenger_text", inbound{Page: pageID, From: psid, MID: "m_parts1", Text: "my invoice?", At: h.clk.Now()}))
	h.assign(t, h.latestConversation(t, omnigate.Messenger, psid), "agent-ann")

	code, out := h.send(t, annKey, obj{"channel": "messenger", "to": psid, "text": "Here are both pages.",
		"media": []obj{{"url": "https://cdn.example.com/invoice-1.png", "content_type": "image/png"},
			{"url": "https://cdn.example.com/invoice-2.pdf", "content_type": "application/pdf"}}})
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, out)
	}
	var ids []string
	for _, v := range out["parts"].([]any) {
		ids = append(ids, v.(string))
	}
	if len(ids) != 3 || ids[0] != str(out, "id") {
		t.Fatalf("parts = %v, id %s; want three, the first as id", ids, str(out, "id"))
	}
	carrierIDs := map[string]bool{}
	for _, id := range ids {
		m := h.waitStatus(t, id, "sent")
		carrierIDs[str(m, "provider_message_id")] = true
	}
	if len(carrierIDs) != 3 || carrierIDs[""] {
		t.Errorf("carrier ids %v, want three distinct", carrierIDs)
	}
	var got []graphPart
	for _, r := range h.graph.requests() {
		if r.Method != http.MethodPost {
			continue // the contact's profile
		}
		var p graphPart
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 3 {
		t.Fatalf("Graph got %d sends, want 3", len(got))
	}
	want := []struct{ kind, url, text string }{
		{"image", "https://cdn.example.com/invoice-1.png", ""},
		{"file", "https://cdn.example.com/invoice-2.pdf", ""},
		{"", "", "Here are both pages."},
	}
	for i, w := range want {
		p := got[i]
		switch {
		case w.kind == "" && (p.Message.Attachment != nil || p.Message.Text != w.text):
			t.Errorf("send %d = %+v, want the text alone", i, p.Message)
		case w.kind != "" && (p.Message.Attachment == nil || p.Message.Attachment.Type != w.kind ||
			p.Message.Attachment.Payload.URL != w.url || p.Message.Text != ""):
			t.Errorf("send %d = %+v, want the %s attachment %s alone", i, p.Message, w.kind, w.url)
		}
		if p.Recipient.ID != psid {
			t.Errorf("send %d went to %s", i, p.Recipient.ID)
		}
	}
	// The history shows the three messages, in order.
	var texts []string
	for _, m := range objs(h.conversation(t, str(out, "conversation_id")), "messages") {
		if str(m, "direction") == "outbound" {
			texts = append(texts, str(m, "id"))
		}
	}
	if len(texts) != 3 || texts[0] != ids[0] || texts[1] != ids[1] || texts[2] != ids[2] {
		t.Errorf("history lists %v, want %v", texts, ids)
	}
}

// TestInstagramPartialFailureRetriesOnlyTheRest: the image goes out, Graph is down when
// the text's turn comes; the text is retried later and sent once, and the image is never
// sent again. Each part reports its own status meanwhile.
func TestInstagramPartialFailureRetriesOnlyTheRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const igsid = "5318329871523945"
	h.postMeta(t, payload(t, "instagram_text", inbound{Page: igAccount, From: igsid, MID: "ig_parts1", Text: "photo?", At: h.clk.Now()}))
	h.assign(t, h.latestConversation(t, omnigate.Instagram, igsid), "agent-ann")
	const caption = "the caption that waits"
	h.graph.setDown(func(body []byte) bool { return bytes.Contains(body, []byte(caption)) })

	code, out := h.send(t, annKey, obj{"channel": "instagram", "to": igsid, "text": caption,
		"media": []obj{{"url": "https://cdn.example.com/photo.jpg", "content_type": "image/jpeg"}}})
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, out)
	}
	parts, _ := out["parts"].([]any)
	if len(parts) != 2 {
		t.Fatalf("parts = %v, want image then text", out["parts"])
	}
	image, text := parts[0].(string), parts[1].(string)
	h.waitStatus(t, image, "sent")
	waitFor(t, "the text's refused attempt", func() bool { return len(h.graph.matching(caption)) == 1 })
	waitFor(t, "the text to be queued for a retry", func() bool {
		m := h.message(t, text)
		return str(m, "status") == "queued" && num(m, "attempts") == 1
	})

	h.graph.setDown(nil)
	h.advance(time.Minute) // past Graph's Retry-After
	h.waitStatus(t, text, "sent")
	if n := len(h.graph.matching("photo.jpg")); n != 1 {
		t.Errorf("the image reached Graph %d times, want once", n)
	}
	if n := h.graph.accepted(caption); n != 1 {
		t.Errorf("the text was accepted %d times, want once", n)
	}
}
