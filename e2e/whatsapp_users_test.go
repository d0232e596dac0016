package e2e_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/policy"
)

// whatsAppKeywords is the default policy with opt-out keywords on WhatsApp too.
func whatsAppKeywords(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("version: 1\nchannels:\n  whatsapp:\n    opt_out: {stop: [STOP], start: [START]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWhatsAppUserWithoutPhoneNumber: a user with a username writes with a
// business-scoped user id and no phone number. The conversation threads on the id and
// shows the username; the agent's reply goes to the Cloud API as recipient (no to), its
// receipt naming the id applies; the next message threads into the same conversation;
// STOP opts the user out and a send is refused with opted_out.
func TestWhatsAppUserWithoutPhoneNumber(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, whatsAppKeywords(t))
	const bsuid = "BR.1502576394655843"
	at := h.clk.Now()
	h.postMeta(t, payload(t, "whatsapp_username_text", inbound{UserID: bsuid, Username: "ana.costa", MID: "wamid.u1", Text: "oi", At: at}))
	conv := h.latestConversation(t, omnigate.WhatsApp, bsuid)
	c := h.conversation(t, conv)
	if ct := sub(c, "contact"); str(ct, "address") != bsuid || str(ct, "name") != "ana.costa" {
		t.Fatalf("contact = %v, want the user id with the username as name", ct)
	}
	h.assign(t, conv, "agent-ann")

	id, got := h.mustSend(t, annKey, obj{"channel": "whatsapp", "to": bsuid, "text": "Olá! How can we help?"})
	if got != conv {
		t.Errorf("reply went to conversation %s, want %s", got, conv)
	}
	m := h.waitStatus(t, id, "sent")
	reqs := h.graph.matching("How can we help?")
	if len(reqs) != 1 {
		t.Fatalf("Graph got %d sends", len(reqs))
	}
	var body map[string]any
	json.Unmarshal(reqs[0].Body, &body)
	if body["recipient"] != bsuid || body["to"] != nil || body["messaging_product"] != "whatsapp" {
		t.Errorf("cloud api send = %s, want recipient %s and no to", reqs[0].Body, bsuid)
	}
	h.postMeta(t, payload(t, "whatsapp_status_user_id", inbound{UserID: bsuid, Username: "ana.costa", MID: str(m, "provider_message_id"), At: at}))
	h.waitStatus(t, id, "delivered")

	h.postMeta(t, payload(t, "whatsapp_username_text", inbound{UserID: bsuid, Username: "ana.costa", MID: "wamid.u2", Text: "STOP", At: at}))
	if again := h.latestConversation(t, omnigate.WhatsApp, bsuid); again != conv {
		t.Errorf("the next message opened %s, want it threaded into %s", again, conv)
	}
	code, out := h.send(t, annKey, obj{"channel": "whatsapp", "to": bsuid, "text": "are you there?"})
	wantError(t, "send after STOP", code, out, http.StatusUnprocessableEntity, "policy_denied")
	if rule := str(sub(out, "error"), "rule"); rule != "opted_out" {
		t.Errorf("rule = %q, want opted_out", rule)
	}
}

// TestWhatsAppUserHidesPhoneNumber: a user first writes with phone number and user id,
// then (having taken a username) with the user id alone. The second message threads
// into the phone number's conversation, and a STOP sent without the number opts out the
// number: a send to it is refused.
func TestWhatsAppUserHidesPhoneNumber(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, whatsAppKeywords(t))
	const phone, bsuid = "14155550163", "US.13491208655302741918"
	at := h.clk.Now()
	h.postMeta(t, payload(t, "whatsapp_text_user_id", inbound{From: phone, UserID: bsuid, Name: "Sam", MID: "wamid.p1", Text: "hello", At: at}))
	conv := h.latestConversation(t, omnigate.WhatsApp, "+"+phone)
	h.postMeta(t, payload(t, "whatsapp_username_text", inbound{UserID: bsuid, Name: "Sam", Username: "sam.k", MID: "wamid.p2", Text: "still there?", At: at}))
	msgs := objs(h.conversation(t, conv), "messages")
	if len(msgs) != 2 || str(msgs[1], "text") != "still there?" || str(msgs[1], "from") != "+"+phone {
		t.Fatalf("conversation %s holds %v, want both messages from +%s", conv, msgs, phone)
	}
	if cs := h.conversationsWith(t, omnigate.WhatsApp, bsuid); len(cs) != 0 {
		t.Errorf("a second contact was opened for the user id: %v", cs)
	}

	h.postMeta(t, payload(t, "whatsapp_username_text", inbound{UserID: bsuid, Username: "sam.k", MID: "wamid.p3", Text: "stop", At: at}))
	h.assign(t, conv, "agent-ann")
	code, out := h.send(t, annKey, obj{"channel": "whatsapp", "to": "+" + phone, "text": "one more thing"})
	wantError(t, "send to the number after STOP by user id", code, out, http.StatusUnprocessableEntity, "policy_denied")
	if rule := str(sub(out, "error"), "rule"); rule != "opted_out" {
		t.Errorf("rule = %q, want opted_out", rule)
	}
	// Naming the user by its id reaches the same contact, opted out.
	code, out = h.send(t, annKey, obj{"channel": "whatsapp", "to": bsuid, "text": "one more thing"})
	wantError(t, "send to the user id after STOP", code, out, http.StatusUnprocessableEntity, "policy_denied")
	if n := len(h.graph.matching("one more thing")); n != 0 {
		t.Errorf("the refused message reached Graph")
	}
}
