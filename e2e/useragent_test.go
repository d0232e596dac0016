package e2e_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestCarrierCallsNameOmnigate sends on every channel and checks that each carrier (the
// Twilio Messages API, the Graph Send and Cloud APIs, X, an open-messaging integration)
// and the platform's event receiver saw User-Agent omnigate/<version>, in the shape
// Meta's Cloud API description requires, and never an SDK's or Go's default.
func TestCarrierCallsNameOmnigate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const psid, xContact, waContact = "1254459154682919", "3001969357", "+14155550123"
	h.postMeta(t, payload(t, "messenger_text", inbound{Page: pageID, From: psid, MID: "m_ua1", Text: "hi", At: h.clk.Now()}))
	h.postMeta(t, payload(t, "whatsapp_text", inbound{From: strings.TrimPrefix(waContact, "+"), MID: "wamid.ua1", Text: "hi", Name: "Ana", At: h.clk.Now()}))
	h.xInbound(t, xContact, "954491830116155111", "hi")
	for ch, contact := range map[omnigate.Channel]string{omnigate.Messenger: psid, omnigate.WhatsApp: waContact, omnigate.X: xContact} {
		h.assign(t, h.latestConversation(t, ch, contact), "agent-ann")
	}
	var ids []string
	for _, s := range []obj{
		{"channel": "sms", "to": "+14155550100", "text": "ua sms"},
		{"channel": "whatsapp", "to": waContact, "text": "ua whatsapp"},
		{"channel": "messenger", "to": psid, "text": "ua messenger"},
		{"channel": "x", "to": xContact, "text": "ua x"},
		{"channel": "open", "to": "visitor-ua", "text": "ua open"},
	} {
		id, _ := h.mustSend(t, annKey, s)
		ids = append(ids, id)
	}
	for _, id := range ids {
		h.waitStatus(t, id, "sent")
	}
	waitFor(t, "the platform's events", func() bool { return len(h.platform.requests()) > 0 })

	want := omnigate.UserAgent()
	shape := regexp.MustCompile(`^omnigate/[0-9]+\.[0-9]+\.[0-9]+(;[a-zA-Z0-9\-=\.]+)?$`)
	if !shape.MatchString(want) {
		t.Fatalf("omnigate.UserAgent() = %q, not omnigate/major.minor.patch", want)
	}
	for name, f := range map[string]*fake{"twilio": h.twilio, "graph": h.graph, "x": h.xapi, "open": h.widget, "platform": h.platform} {
		reqs := f.requests()
		if len(reqs) == 0 {
			t.Errorf("%s received nothing", name)
		}
		for _, r := range reqs {
			if got := r.Header.Get("User-Agent"); got != want {
				t.Errorf("%s: %s got User-Agent %q, want %q", name, r.Path, got, want)
			}
		}
	}
	// The Graph fake saw both the Send API and the Cloud API.
	if len(h.graph.matching("ua whatsapp")) != 1 || len(h.graph.matching("ua messenger")) != 1 {
		t.Errorf("graph requests: %d whatsapp, %d messenger; want 1 each", len(h.graph.matching("ua whatsapp")), len(h.graph.matching("ua messenger")))
	}
}
