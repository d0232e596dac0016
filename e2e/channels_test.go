package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
)

// pageSend is what the fake Graph received on a Send API call.
type pageSend struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	MessagingType string `json:"messaging_type"`
	Tag           string `json:"tag"`
	Message       struct {
		Text string `json:"text"`
	} `json:"message"`
}

func decodePageSend(t *testing.T, r request) pageSend {
	t.Helper()
	var p pageSend
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("Graph got a body that is not JSON: %s", r.Body)
	}
	return p
}

// TestMessengerWindows replies to a Messenger message at 23h, 30h and 8 days: a
// RESPONSE, then a HUMAN_AGENT tag for humans only, then nothing at all.
func TestMessengerWindows(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const psid = "1254459154682919"
	h.postMeta(t, payload(t, "messenger_text", inbound{Page: pageID, From: psid, MID: "m_in1", Text: "hello, world!", At: h.clk.Now()}))
	conv := h.latestConversation(t, omnigate.Messenger, psid)
	h.assign(t, conv, "agent-ann")
	reply := func(text string, sender string) (int, obj) {
		return h.send(t, annKey, obj{"channel": "messenger", "to": psid, "text": text, "sender": sender})
	}
	graphGot := func(text string) pageSend {
		t.Helper()
		var reqs []request
		waitFor(t, "Graph to receive "+text, func() bool { reqs = h.graph.matching(text); return len(reqs) > 0 })
		if len(reqs) != 1 || !strings.HasSuffix(reqs[0].Path, "/"+pageID+"/messages") {
			t.Fatalf("Graph got %d requests for %q (%v), want 1 to the page's messages", len(reqs), text, reqs)
		}
		return decodePageSend(t, reqs[0])
	}

	h.advance(23 * time.Hour)
	code, out := reply("at 23h", "human")
	if code != http.StatusAccepted || str(sub(out, "decision"), "messaging_type") != "RESPONSE" {
		t.Fatalf("reply at 23h: %d %v", code, out)
	}
	if p := graphGot("at 23h"); p.MessagingType != "RESPONSE" || p.Tag != "" || p.Recipient.ID != psid {
		t.Errorf("reply at 23h went as %+v, want messaging_type RESPONSE without a tag", p)
	}

	h.advance(7 * time.Hour)
	code, out = reply("bot at 30h", "automated")
	wantError(t, "automated reply at 30h", code, out, http.StatusUnprocessableEntity, "policy_denied")
	if rule := str(sub(out, "error"), "rule"); rule != "human_agent_only" {
		t.Errorf("rule = %q, want human_agent_only", rule)
	}
	code, out = reply("human at 30h", "human")
	if code != http.StatusAccepted || str(sub(out, "decision"), "tag") != "HUMAN_AGENT" {
		t.Fatalf("human reply at 30h: %d %v", code, out)
	}
	if p := graphGot("human at 30h"); p.MessagingType != "MESSAGE_TAG" || p.Tag != "HUMAN_AGENT" {
		t.Errorf("reply at 30h went as %+v, want MESSAGE_TAG with HUMAN_AGENT", p)
	}
	h.waitStatus(t, h.lastOutboundID(t, conv), "sent")

	before := len(carrierCalls(h.graph))
	h.advance(8*24*time.Hour - 30*time.Hour)
	code, out = reply("at 8 days", "human")
	wantError(t, "reply after 8 days", code, out, http.StatusUnprocessableEntity, "policy_denied")
	if rule := str(sub(out, "error"), "rule"); rule != "reply_window" {
		t.Errorf("rule = %q, want reply_window", rule)
	}
	if after := len(carrierCalls(h.graph)); after != before || len(h.graph.matching("bot at 30h")) != 0 {
		t.Errorf("refused replies reached Graph (%d requests before, %d after)", before, after)
	}
}

// lastOutboundID is the newest outbound message of a conversation.
func (h *harness) lastOutboundID(t *testing.T, conv string) string {
	t.Helper()
	id := ""
	for _, m := range objs(h.conversation(t, conv), "messages") {
		if str(m, "direction") == "outbound" {
			id = str(m, "id")
		}
	}
	return id
}

// TestXRepliesPerInbound: five replies per message from the contact, the sixth refused
// before it reaches X, and the contact's next message allows five more.
func TestXRepliesPerInbound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contact = "3001969357"
	h.xInbound(t, contact, "954491830116155396", "Hello World!")
	conv := h.latestConversation(t, omnigate.X, contact)
	h.assign(t, conv, "agent-ann")
	send := func(text string) (int, obj) {
		return h.send(t, annKey, obj{"channel": "x", "to": contact, "text": text})
	}
	round := func(n int) {
		t.Helper()
		for i := range 5 {
			code, out := send("round " + itoa(n) + " reply " + itoa(i+1))
			if code != http.StatusAccepted || str(out, "conversation_id") != conv {
				t.Fatalf("round %d reply %d: %d %v", n, i+1, code, out)
			}
			if left := num(sub(out, "decision"), "replies_left"); left != 4-i {
				t.Errorf("round %d reply %d: replies_left %d, want %d", n, i+1, left, 4-i)
			}
		}
		code, out := send("round " + itoa(n) + " reply 6")
		wantError(t, "sixth reply", code, out, http.StatusUnprocessableEntity, "policy_denied")
		if rule := str(sub(out, "error"), "rule"); rule != "reply_cap" {
			t.Errorf("rule = %q, want reply_cap", rule)
		}
	}
	round(1)
	h.advance(time.Minute)
	h.xInbound(t, contact, "954491830116155400", "thanks, one more question")
	round(2)

	waitFor(t, "X to receive 10 DMs", func() bool { return len(h.xapi.requests()) >= 10 })
	for _, r := range h.xapi.requests() {
		if !strings.HasSuffix(r.Path, "/2/dm_conversations/with/"+contact+"/messages") || bytes.Contains(r.Body, []byte("reply 6")) {
			t.Errorf("X got %s %s", r.Path, r.Body)
		}
	}
	if n := len(h.xapi.requests()); n != 10 {
		t.Errorf("X got %d DMs, want 10", n)
	}
}

// TestInstagramStoryMentionAndUnsend: a story mention reaches the platform as an
// ephemeral omnigate media URL, its link is never stored; an unsend removes the text
// from history.
func TestInstagramStoryMentionAndUnsend(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const igsid = "5318329871523944"
	const media = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17895695668004550&signature=abc"
	at := h.clk.Now()
	h.postMeta(t, payload(t, "instagram_story_mention", inbound{Page: igAccount, From: igsid, MID: "ig_story1", URL: media, At: at}))
	h.postMeta(t, payload(t, "instagram_text", inbound{Page: igAccount, From: igsid, MID: "ig_text1", Text: "oops, wrong chat", At: at}))
	h.postMeta(t, payload(t, "instagram_text", inbound{Page: igAccount, From: igsid, MID: "ig_text2", Text: "love this!", At: at}))
	conv := h.latestConversation(t, omnigate.Instagram, igsid)

	var story struct {
		ID             string           `json:"id"`
		Media          []omnigate.Media `json:"media"`
		StoryMention   bool             `json:"story_mention"`
		ContactName    string           `json:"contact_name"`
		MediaExpiresAt time.Time        `json:"media_expires_at"`
	}
	waitFor(t, "the story mention's platform event", func() bool {
		for _, e := range h.eventsOf("message.inbound") {
			if bytes.Contains(e.Data, []byte("story_mention")) {
				json.Unmarshal(e.Data, &story)
				return e.ConversationID == conv
			}
		}
		return false
	})
	if !story.StoryMention || len(story.Media) != 1 || !story.Media[0].Ephemeral || story.Media[0].URL != h.url+"/v1/media/"+story.Media[0].ID {
		t.Errorf("story mention event = %+v, want its media as an ephemeral omnigate URL", story)
	}
	if !story.MediaExpiresAt.Equal(at.Add(24 * time.Hour)) {
		t.Errorf("media expires at %v, want 24h after the mention", story.MediaExpiresAt)
	}
	if story.ContactName != igsid {
		t.Errorf("contact name = %q, want the page-scoped id of a user without a display name", story.ContactName)
	}

	// The unsend arrives after the message.
	h.postMeta(t, payload(t, "instagram_unsend", inbound{Page: igAccount, From: igsid, MID: "ig_text1", At: at.Add(time.Minute)}))
	waitFor(t, "the unsend's platform event", func() bool { return len(h.eventsOf("message.deleted")) == 1 })

	code, raw := h.callRaw(t, annKey, http.MethodGet, "/v1/conversations/"+conv, nil)
	if code != http.StatusOK {
		t.Fatalf("GET conversation: %d %s", code, raw)
	}
	for _, gone := range []string{"lookaside.fbsbx.com", "oops, wrong chat"} {
		if bytes.Contains(raw, []byte(gone)) {
			t.Errorf("conversation history still holds %q: %s", gone, raw)
		}
	}
	var c struct {
		Messages []struct {
			ID      string           `json:"id"`
			Text    string           `json:"text"`
			Media   []omnigate.Media `json:"media"`
			Deleted bool             `json:"deleted"`
		} `json:"messages"`
	}
	json.Unmarshal(raw, &c)
	if len(c.Messages) != 3 {
		t.Fatalf("history has %d messages, want 3: %s", len(c.Messages), raw)
	}
	if m := c.Messages[0]; m.ID != story.ID || len(m.Media) != 1 || m.Media[0].URL != story.Media[0].URL {
		t.Errorf("stored story mention = %+v, want it with the omnigate media URL only", m)
	}
	if m := c.Messages[1]; !m.Deleted || m.Text != "" {
		t.Errorf("unsent message = %+v, want deleted without text", m)
	}
	if m := c.Messages[2]; m.Text != "love this!" || m.Deleted {
		t.Errorf("other message = %+v, want it untouched", m)
	}
}
