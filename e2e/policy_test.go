package e2e_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
)

// xInbound posts an X DM from contact to our account.
func (h *harness) xInbound(t *testing.T, contact, id, text string) {
	t.Helper()
	h.postX(t, payload(t, "x_dm", inbound{Page: xUser, From: contact, MID: id, Text: text, Name: "Jordan Brinks", At: h.clk.Now()}))
}

// TestXReplyCapHoldsUnderConcurrency sends 100 replies at once to one X conversation:
// the cap is decided in the transaction that enqueues, so exactly 5 are accepted.
func TestXReplyCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contact = "3001969357"
	h.xInbound(t, contact, "954491830116155396", "Hello World!")
	conv := h.latestConversation(t, omnigate.X, contact)
	h.assign(t, conv, "agent-ann")

	const senders = 100
	codes := make([]int, senders)
	outs := make([]obj, senders)
	barrier := make(chan struct{})
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-barrier
			codes[i], outs[i] = h.send(t, annKey, obj{"channel": "x", "to": contact, "text": "reply " + itoa(i)})
		}()
	}
	close(barrier)
	wg.Wait()

	var accepted []string
	capped := 0
	for i, code := range codes {
		switch {
		case code == http.StatusAccepted:
			accepted = append(accepted, str(outs[i], "id"))
			if str(outs[i], "conversation_id") != conv {
				t.Errorf("accepted reply went to conversation %s, want %s", str(outs[i], "conversation_id"), conv)
			}
		case code == http.StatusUnprocessableEntity && errCode(outs[i]) == "policy_denied" && str(sub(outs[i], "error"), "rule") == "reply_cap":
			capped++
		default:
			t.Errorf("send %d: %d %v", i, code, outs[i])
		}
	}
	if len(accepted) != 5 || capped != 95 {
		t.Fatalf("%d accepted and %d refused with reply_cap, want 5 and 95", len(accepted), capped)
	}
	for _, id := range accepted {
		h.waitStatus(t, id, "sent")
	}
	if n := len(h.xapi.requests()); n != 5 {
		t.Errorf("X received %d DMs, want 5", n)
	}
}

// TestWhatsAppExpiresWhileCarrierDown accepts a reply inside the 24h window, keeps the
// carrier down until the window has closed, and then lets it recover: the relay's
// recheck fails the message with policy_expired and it never reaches the carrier.
func TestWhatsAppExpiresWhileCarrierDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contact = "+16505551234"
	inboundAt := h.clk.Now()
	h.postMeta(t, payload(t, "whatsapp_text", inbound{From: "16505551234", Name: "Sheena Nelson",
		MID: "wamid.sheena1", Text: "Does it come in another color?", At: inboundAt}))
	conv := h.latestConversation(t, omnigate.WhatsApp, contact)
	h.assign(t, conv, "agent-ann")

	h.graph.setDown(func([]byte) bool { return true })
	h.advance(time.Hour)
	id, _ := h.mustSend(t, annKey, obj{"channel": "whatsapp", "to": contact, "text": "Yes, in blue."})
	attempted := func(n int) func() bool {
		return func() bool {
			m := h.message(t, id)
			return str(m, "status") == "queued" && num(m, "attempts") >= n
		}
	}
	waitFor(t, "the first refused attempt", attempted(1))
	h.advance(11 * time.Hour) // the retry falls due; the carrier is still down
	waitFor(t, "the second refused attempt", attempted(2))

	// The window closed at inboundAt+24h; the carrier comes back just after.
	h.clk.Set(inboundAt.Add(24*time.Hour + time.Minute))
	h.graph.setDown(nil)
	h.relay.Wake()
	m := h.waitStatus(t, id, "failed")
	if code := str(sub(m, "error"), "code"); code != "policy_expired" {
		t.Errorf("error code = %q, want policy_expired", code)
	}
	reqs := h.graph.matching("Yes, in blue.")
	for _, r := range reqs {
		if r.Accepted {
			t.Fatalf("the expired message reached WhatsApp")
		}
	}
	if len(reqs) != 2 {
		t.Errorf("WhatsApp saw %d attempts, want the 2 it refused", len(reqs))
	}
}

// TestCheckWritesNothing asks for a decision without sending: the answer has the
// decision and the conversation outcome, and no contact, conversation, message or
// carrier request comes of it.
func TestCheckWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contact = "+14155550142"
	code, out := h.call(t, annKey, http.MethodPost, "/v1/messages/check", sms(contact, "Your order shipped."))
	d := sub(out, "decision")
	if code != http.StatusOK || out["allowed"] != true || str(out, "conversation") != "new" ||
		d["allow"] != true || num(d, "segments") != 1 || str(d, "encoding") != "GSM-7" {
		t.Fatalf("check: %d %v", code, out)
	}

	// A refusal is reported the same way.
	h.xInbound(t, "3001969357", "dm1", "hi")
	xconv := h.latestConversation(t, omnigate.X, "3001969357")
	code, out = h.call(t, annKey, http.MethodPost, "/v1/messages/check", obj{"channel": "x", "to": "3001969357", "text": "hi"})
	if code != http.StatusOK || out["allowed"] != false || errCode(out) != "conversation_active" || str(out, "conversation_id") != xconv {
		t.Errorf("check against a queued conversation: %d %v", code, out)
	}

	if cs := h.conversationsWith(t, omnigate.SMS, contact); len(cs) != 0 {
		t.Errorf("check opened conversations: %v", cs)
	}
	code, out = h.call(t, annKey, http.MethodGet, "/v1/contacts?channel=sms&q=%2B1415555", nil)
	if cs := objs(out, "contacts"); code != http.StatusOK || len(cs) != 0 {
		t.Errorf("check recorded contacts: %d %v", code, out)
	}
	if msgs := objs(h.conversation(t, xconv), "messages"); len(msgs) != 1 {
		t.Errorf("X conversation has %d messages after a check, want the inbound one", len(msgs))
	}
	code, out = h.call(t, platformKey, http.MethodGet, "/v1/outbox?status=pending", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/outbox: %d %v", code, out)
	}
	for _, e := range objs(out, "entries") {
		if str(e, "kind") == "deliver" {
			t.Errorf("check enqueued a delivery: %v", e)
		}
	}
	if n := len(h.twilio.requests()) + len(h.xapi.requests()); n != 0 {
		t.Errorf("carriers got %d requests from checks", n)
	}
}

// TestSMSOptOut: STOP from the contact refuses sends from that number until START.
func TestSMSOptOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contact = "+14155550150"
	h.postTwilioSMS(t, "SMstop1", contact, supportSMS, "stop")
	conv := h.latestConversation(t, omnigate.SMS, contact)
	h.assign(t, conv, "agent-ann")

	code, out := h.send(t, annKey, sms(contact, "are you sure?"))
	wantError(t, "send after STOP", code, out, http.StatusUnprocessableEntity, "policy_denied")
	if rule := str(sub(out, "error"), "rule"); rule != "opted_out" {
		t.Errorf("rule = %q, want opted_out", rule)
	}
	h.postTwilioSMS(t, "SMstart1", contact, supportSMS, "START")
	id, c := h.mustSend(t, annKey, sms(contact, "welcome back"))
	if c != conv {
		t.Errorf("send after START went to conversation %s, want %s", c, conv)
	}
	h.waitStatus(t, id, "sent")
	if n := len(h.twilio.matching("are+you+sure")); n != 0 {
		t.Errorf("the refused message reached Twilio")
	}
}
