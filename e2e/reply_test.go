package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestReplyByConversationAfterTransfer: a customer texts support's number; the thread is
// blind-transferred to billing, whose own number is another; billing's agent answers by
// conversation id and the carrier receives the reply from support's number, the one the
// customer wrote to, inside the same conversation. Nobody outside billing may reply.
func TestReplyByConversationAfterTransfer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const customer = "+14155550123"
	h.postTwilioSMS(t, "SMreply000000000000000000000000001", customer, supportSMS, "my invoice is wrong")
	conv := h.latestConversation(t, omnigate.SMS, customer)

	code, out := h.call(t, platformKey, http.MethodPost, "/v1/conversations/"+conv+"/transfer", obj{"queue": "billing"})
	if code != http.StatusOK || str(out, "queue") != "billing" || str(out, "state") != "queued" {
		t.Fatalf("transfer: %d %v", code, out)
	}
	path := "/v1/conversations/" + conv + "/messages"

	// ann is in support, the queue the conversation left: she cannot see it any more.
	code, out = h.call(t, annKey, http.MethodPost, path, obj{"text": "still here?"})
	wantError(t, "reply by a member of the previous queue", code, out, http.StatusNotFound, "conversation_not_found")
	// Queued in billing: the same conflict rule as POST /v1/messages.
	code, out = h.call(t, danKey, http.MethodPost, path, obj{"text": "hello"})
	wantError(t, "reply while the conversation waits in the queue", code, out, http.StatusConflict, "conversation_active")
	code, out = h.call(t, danKey, http.MethodPost, path, obj{})
	wantError(t, "reply without content", code, out, http.StatusBadRequest, "invalid_request")

	h.assign(t, conv, "agent-dan")
	const text = "Billing here: I corrected your invoice."
	req, _ := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader([]byte(`{"text":"`+text+`"}`)))
	req.Header.Set("Authorization", "Bearer "+danKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "reply-1")
	var ids []string
	for i := range 2 {
		resp, err := h.client.Do(req.Clone(req.Context()))
		if err != nil {
			t.Fatal(err)
		}
		var got obj
		decodeBody(t, resp, &got)
		if resp.StatusCode != http.StatusAccepted || str(got, "conversation_id") != conv || str(got, "conversation") != "continued" {
			t.Fatalf("reply %d: %d %v, want 202 continuing %s", i, resp.StatusCode, got, conv)
		}
		if replayed := resp.Header.Get("Idempotent-Replayed") == "true"; replayed != (i == 1) {
			t.Errorf("reply %d: Idempotent-Replayed = %v", i, replayed)
		}
		ids = append(ids, str(got, "id"))
		req.Body, _ = req.GetBody()
	}
	if ids[0] != ids[1] {
		t.Errorf("the retried reply made a second message: %v", ids)
	}
	m := h.waitStatus(t, ids[0], "sent")
	if str(m, "from") != supportSMS || str(m, "queue") != "billing" || str(m, "conversation_id") != conv {
		t.Errorf("reply = %v, want it from %s, billing's, in %s", m, supportSMS, conv)
	}
	sent := h.twilio.matching("corrected+your+invoice")
	if len(sent) != 1 {
		t.Fatalf("twilio got %d copies of the reply, want 1", len(sent))
	}
	form, _ := url.ParseQuery(string(sent[0].Body))
	if form.Get("From") != supportSMS || form.Get("To") != customer {
		t.Errorf("twilio got the reply from %q to %q, want from the thread's %s to %s", form.Get("From"), form.Get("To"), supportSMS, customer)
	}
	if n := len(h.conversationsWith(t, omnigate.SMS, customer)); n != 1 {
		t.Errorf("the customer has %d conversations, want the one thread", n)
	}
	// ann still cannot reply, even by taking it over.
	code, out = h.call(t, annKey, http.MethodPost, path, obj{"text": "me too", "takeover": true})
	wantError(t, "reply by a non-member with takeover", code, out, http.StatusNotFound, "conversation_not_found")
	if n := len(h.twilio.matching("me+too")); n != 0 {
		t.Errorf("a refused reply reached the carrier %d times", n)
	}
}

// decodeBody reads a JSON answer and closes it.
func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
}
