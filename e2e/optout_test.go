package e2e_test

import (
	"net/http"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestOptOutBeforeConflicts: after STOP, a send to the contact is refused 422 with rule
// opted_out whatever state the contact's conversation is in (waiting in the queue,
// assigned to someone else, released and open), never with a conflict that would send
// the agent to take the thread over only to be refused again. The check says the same,
// and nothing reaches Twilio.
func TestOptOutBeforeConflicts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contact = "+14155550177"
	h.postTwilioSMS(t, "SMstop77", contact, supportSMS, "STOP")
	conv := h.latestConversation(t, omnigate.SMS, contact)
	if st := str(h.conversation(t, conv), "state"); st != "queued" {
		t.Fatalf("STOP left the conversation %s, want queued", st)
	}
	optedOut := func(what, key string, takeover bool) {
		t.Helper()
		body := sms(contact, "are you still there?")
		if takeover {
			body["takeover"] = true
		}
		code, out := h.send(t, key, body)
		wantError(t, what, code, out, http.StatusUnprocessableEntity, "policy_denied")
		if rule := str(sub(out, "error"), "rule"); rule != "opted_out" {
			t.Errorf("%s: rule = %q, want opted_out", what, rule)
		}
		code, out = h.call(t, key, http.MethodPost, "/v1/messages/check", body)
		if code != http.StatusOK || out["allowed"] != false || errCode(out) != "policy_denied" || str(sub(out, "decision"), "rule") != "opted_out" {
			t.Errorf("%s (check): %d %v, want a policy_denied opted_out decision", what, code, out)
		}
	}
	optedOut("send while the conversation waits in the queue", annKey, false)

	h.assign(t, conv, "agent-bob")
	optedOut("send while another agent holds the conversation", annKey, false)

	code, out := h.call(t, bobKey, http.MethodPost, "/v1/conversations/"+conv+"/disconnect", nil)
	if code != http.StatusOK {
		t.Fatalf("disconnect: %d %v", code, out)
	}
	code, out = h.call(t, bobKey, http.MethodPost, "/v1/conversations/"+conv+"/wrapup", obj{"code": "resolved"})
	if code != http.StatusOK || str(out, "state") != "open" {
		t.Fatalf("wrapup: %d %v", code, out)
	}
	optedOut("send to the released conversation", annKey, false)
	optedOut("takeover of the released conversation", annKey, true)
	if st := str(h.conversation(t, conv), "state"); st != "open" {
		t.Errorf("the refused takeover moved the conversation to %s", st)
	}
	if n := len(h.twilio.requests()); n != 0 {
		t.Errorf("Twilio got %d requests for an opted-out contact", n)
	}
}
