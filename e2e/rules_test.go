package e2e_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
)

// sms is the body of an SMS send on behalf of support.
func sms(to any, text string) obj {
	return obj{"queue": "support", "channel": "sms", "to": to, "text": text}
}

// TestComposeChecks is the seed's compose box: only the caller's queues, only queues with
// an outbound address for the channel, and a properly formatted number.
func TestComposeChecks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	code, out := h.send(t, annKey, obj{"queue": "billing", "channel": "sms", "to": "+14155550100", "text": "hi"})
	wantError(t, "send for a queue ann is not in", code, out, http.StatusForbidden, "not_queue_member")

	code, out = h.send(t, catKey, obj{"queue": "nosms", "channel": "sms", "to": "+14155550100", "text": "hi"})
	wantError(t, "send from a queue without an SMS number", code, out, http.StatusUnprocessableEntity, "no_outbound_address")

	code, out = h.send(t, platformKey, sms("+14155550100", "hi"))
	wantError(t, "send without conversation:message:create", code, out, http.StatusForbidden, "forbidden")

	code, out = h.send(t, "not-a-key", sms("+14155550100", "hi"))
	wantError(t, "send with an unknown key", code, out, http.StatusUnauthorized, "unauthenticated")

	code, out = h.send(t, annKey, sms("12", "hi"))
	wantError(t, "send to a malformed number", code, out, http.StatusBadRequest, "invalid_address")

	// The compose button needs both: a bad queue and a bad number are reported together.
	code, out = h.send(t, annKey, obj{"queue": "nope", "channel": "sms", "to": "12", "text": "hi"})
	wantError(t, "bad queue and bad number", code, out, http.StatusBadRequest, "invalid_request")
	var fields []string
	for _, f := range objs(sub(out, "error"), "fields") {
		fields = append(fields, str(f, "field"))
	}
	if !slices.Contains(fields, "queue") || !slices.Contains(fields, "to") {
		t.Errorf("fields = %v, want queue and to both reported", fields)
	}

	// ann's default queue stands in for an omitted one.
	code, out = h.call(t, annKey, http.MethodPost, "/v1/messages/check", obj{"channel": "sms", "to": "(415) 555-0100", "text": "hi"})
	if code != http.StatusOK || str(out, "to") != "+14155550100" || out["allowed"] != true {
		t.Errorf("check with the default queue and a national number: %d %v", code, out)
	}

	for _, tc := range []struct{ to, country, want string }{
		{"+44 20 7946 0958", "", "+442079460958"},   // an international number keeps its country
		{"+44 20 7946 0958", "US", "+442079460958"}, // even when the request names another
		{"020 7946 0958", "GB", "+442079460958"},    // the request's country overrides the default
		{"415.555.0100", "", "+14155550100"},        // the default country applies
	} {
		body := sms(tc.to, "hi")
		if tc.country != "" {
			body["country"] = tc.country
		}
		code, out := h.call(t, annKey, http.MethodPost, "/v1/messages/check", body)
		if code != http.StatusOK || str(out, "to") != tc.want {
			t.Errorf("check to %q country %q: %d %v, want to %s", tc.to, tc.country, code, out, tc.want)
		}
	}
	if reqs := h.twilio.requests(); len(reqs) != 0 {
		t.Errorf("refused sends and checks reached Twilio: %d requests", len(reqs))
	}
}

// TestQueueLookup is the "on behalf of queue" box: prefix of name or id, any case, only
// the caller's queues, only those with an address for the channel.
func TestQueueLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := func(key, query string) []string {
		t.Helper()
		code, out := h.call(t, key, http.MethodGet, "/v1/queues?"+query, nil)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/queues?%s: %d %v", query, code, out)
		}
		var got []string
		for _, q := range objs(out, "queues") {
			got = append(got, str(q, "id"))
		}
		return got
	}
	for _, tc := range []struct {
		key, query string
		want       []string
	}{
		{annKey, "q=cus&channel=sms", []string{"support"}},
		{annKey, "q=CUS&channel=sms", []string{"support"}},
		{annKey, "q=Sup", []string{"support"}},
		{annKey, "q=bil&channel=sms", nil}, // billing exists but ann is not in it
		{platformKey, "channel=sms", []string{"billing", "support"}},
		{platformKey, "channel=open", []string{"support", "nosms"}}, // by name: Customer Support, Web Chat
		{catKey, "q=w&channel=sms", nil},                            // Web Chat has no SMS number
	} {
		if got := ids(tc.key, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%s ?%s = %v, want %v", tc.key, tc.query, got, tc.want)
		}
	}
	code, out := h.call(t, bobKey, http.MethodGet, "/v1/queues?q=cus", nil)
	wantError(t, "queue lookup without routing:queue:view", code, out, http.StatusForbidden, "forbidden")
}

// TestConversationRules is the seed's table of what an outbound message does to an
// existing conversation with the contact.
func TestConversationRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	t.Run("queued conversation blocks a new outbound message", func(t *testing.T) {
		const contact = "+14155550101"
		h.postTwilioSMS(t, "SMin0101", contact, supportSMS, "where is my order")
		conv := h.latestConversation(t, omnigate.SMS, contact)
		if st := str(h.conversation(t, conv), "state"); st != "queued" {
			t.Fatalf("inbound opened a %s conversation, want queued", st)
		}
		code, out := h.send(t, annKey, sms(contact, "hello"))
		wantError(t, "send while queued", code, out, http.StatusConflict, "conversation_active")
		if got := str(sub(out, "error"), "conversation_id"); got != conv {
			t.Errorf("conversation_id = %q, want %q", got, conv)
		}

		// Routed to bob, it is bob's: ann is still refused, bob continues it.
		h.assign(t, conv, "agent-bob")
		code, out = h.send(t, annKey, sms(contact, "hello"))
		wantError(t, "send to a conversation assigned to bob", code, out, http.StatusConflict, "conversation_active")
		if got := str(sub(out, "error"), "conversation_id"); got != conv {
			t.Errorf("conversation_id = %q, want %q", got, conv)
		}
		code, out = h.send(t, bobKey, sms(contact, "hi, bob here"))
		if code != http.StatusAccepted || str(out, "conversation_id") != conv || str(out, "conversation") != "continued" {
			t.Fatalf("bob's send: %d %v, want 202 continuing %s", code, out, conv)
		}
	})

	t.Run("open conversation asks for takeover, then threads until the timeline ends", func(t *testing.T) {
		const contact = "+14155550102"
		first, conv := h.mustSend(t, annKey, sms(contact, "your order shipped"))
		h.waitStatus(t, first, "sent")

		code, out := h.call(t, annKey, http.MethodPost, "/v1/conversations/"+conv+"/disconnect", nil)
		if code != http.StatusOK || str(out, "state") != "wrapup" {
			t.Fatalf("disconnect: %d %v", code, out)
		}
		code, out = h.call(t, annKey, http.MethodPost, "/v1/conversations/"+conv+"/wrapup", obj{"code": "resolved", "notes": "shipped"})
		if code != http.StatusOK || str(out, "state") != "open" || str(out, "assigned_to") != "" {
			t.Fatalf("wrapup: %d %v", code, out)
		}
		if w := sub(h.conversation(t, conv), "wrapup"); str(w, "code") != "resolved" || str(w, "notes") != "shipped" {
			t.Errorf("stored wrap-up = %v, want resolved/shipped", w)
		}

		code, out = h.send(t, bobKey, sms(contact, "one more thing"))
		wantError(t, "send to an open conversation", code, out, http.StatusConflict, "takeover_required")
		if got := str(sub(out, "error"), "conversation_id"); got != conv {
			t.Errorf("conversation_id = %q, want %q", got, conv)
		}

		body := sms(contact, "one more thing")
		body["takeover"] = true
		code, out = h.send(t, bobKey, body)
		if code != http.StatusAccepted || str(out, "conversation_id") != conv || str(out, "conversation") != "taken_over" {
			t.Fatalf("takeover: %d %v, want 202 taking over %s", code, out, conv)
		}
		c := h.conversation(t, conv)
		if str(c, "state") != "assigned" || str(c, "assigned_to") != "agent-bob" {
			t.Errorf("after takeover: state %s assigned to %q", str(c, "state"), str(c, "assigned_to"))
		}
		var history []string
		for _, m := range objs(c, "messages") {
			history = append(history, str(m, "text"))
		}
		if want := []string{"your order shipped", "one more thing"}; !slices.Equal(history, want) {
			t.Errorf("history = %q, want %q: the takeover keeps the conversation's history", history, want)
		}

		// Let go again; 71h after the wrap-up the thread is still open.
		h.call(t, bobKey, http.MethodPost, "/v1/conversations/"+conv+"/disconnect", nil)
		if code, out := h.call(t, bobKey, http.MethodPost, "/v1/conversations/"+conv+"/wrapup", obj{"code": "resolved"}); code != http.StatusOK {
			t.Fatalf("wrapup: %d %v", code, out)
		}
		h.advance(71 * time.Hour)
		code, out = h.send(t, annKey, sms(contact, "still there?"))
		wantError(t, "send inside the threading timeline", code, out, http.StatusConflict, "takeover_required")
		if got := str(sub(out, "error"), "conversation_id"); got != conv {
			t.Errorf("inside the timeline the prompt names conversation %q, want the existing %q", got, conv)
		}

		// Past 72h the old conversation is closed and a send starts a new one.
		h.advance(2 * time.Hour)
		if st := str(h.conversation(t, conv), "state"); st != "closed" {
			t.Errorf("state 73h after wrap-up = %s, want closed", st)
		}
		code, out = h.send(t, annKey, sms(contact, "new topic"))
		if code != http.StatusAccepted || str(out, "conversation") != "new" || str(out, "conversation_id") == conv {
			t.Fatalf("send after the timeline: %d %v, want a new conversation", code, out)
		}
		if cs := h.conversationsWith(t, omnigate.SMS, contact); len(cs) != 2 || str(cs[0], "id") != str(out, "conversation_id") {
			t.Errorf("conversations with %s = %v, want the new one first of two", contact, cs)
		}
	})

	t.Run("disconnect cancels what no carrier accepted", func(t *testing.T) {
		const contact = "+14155550103"
		first, conv := h.mustSend(t, annKey, sms(contact, "first: accepted"))
		h.waitStatus(t, first, "sent")

		// Twilio refuses the second; the third waits behind it in the conversation's FIFO.
		h.twilio.setDown(func(body []byte) bool { return bytes.Contains(body, []byte("second")) })
		second, _ := h.mustSend(t, annKey, sms(contact, "second: refused"))
		waitFor(t, "Twilio's refusal of the second message to be recorded", func() bool {
			m := h.message(t, second)
			return str(m, "status") == "queued" && num(m, "attempts") >= 1
		})
		third, _ := h.mustSend(t, annKey, sms(contact, "third: waiting"))

		code, out := h.call(t, annKey, http.MethodPost, "/v1/conversations/"+conv+"/disconnect", nil)
		if code != http.StatusOK {
			t.Fatalf("disconnect: %d %v", code, out)
		}
		var canceled []string
		for _, v := range out["canceled"].([]any) {
			canceled = append(canceled, v.(string))
		}
		slices.Sort(canceled)
		want := []string{second, third}
		slices.Sort(want)
		if !slices.Equal(canceled, want) {
			t.Errorf("canceled = %v, want the second and third messages %v", canceled, want)
		}
		for id, status := range map[string]string{first: "sent", second: "canceled", third: "canceled"} {
			if got := str(h.message(t, id), "status"); got != status {
				t.Errorf("message %s: status %s, want %s", id, got, status)
			}
		}

		// The carrier recovers and the retry falls due: nothing canceled goes out.
		h.twilio.setDown(nil)
		h.advance(time.Hour)
		sentinel, _ := h.mustSend(t, annKey, sms("+14155550199", "sentinel"))
		h.waitStatus(t, sentinel, "sent")
		if n := len(h.twilio.matching("third")); n != 0 {
			t.Errorf("the canceled third message reached Twilio %d times", n)
		}
		if n := h.twilio.accepted("second"); n != 0 {
			t.Errorf("the canceled second message was accepted %d times", n)
		}
	})

	t.Run("transfer queues the conversation again, unassigned", func(t *testing.T) {
		const contact = "+14155550104"
		_, conv := h.mustSend(t, annKey, sms(contact, "let me transfer you"))

		code, out := h.call(t, bobKey, http.MethodPost, "/v1/conversations/"+conv+"/transfer", obj{"queue": "support"})
		wantError(t, "transfer by an agent it is not assigned to", code, out, http.StatusForbidden, "forbidden")
		code, out = h.call(t, annKey, http.MethodPost, "/v1/conversations/"+conv+"/transfer", obj{"queue": "nowhere"})
		wantError(t, "transfer to an unknown queue", code, out, http.StatusNotFound, "queue_not_found")

		code, out = h.call(t, annKey, http.MethodPost, "/v1/conversations/"+conv+"/transfer", obj{"queue": "billing"})
		if code != http.StatusOK || str(out, "state") != "queued" || str(out, "assigned_to") != "" || str(out, "queue") != "billing" {
			t.Fatalf("transfer: %d %v, want queued in billing and unassigned", code, out)
		}
		if str(out, "address") != "+15550001111" {
			t.Errorf("transfer changed the thread's address: %v", out["address"])
		}
		// Queued again, it is routing's: no agent may start a message to the contact.
		code, out = h.send(t, annKey, sms(contact, "are you still there?"))
		wantError(t, "send after the transfer", code, out, http.StatusConflict, "conversation_active")
	})

	t.Run("batch send: a conflict fails only its recipient", func(t *testing.T) {
		busy, free1, free2 := "+14155550105", "+14155550106", "+14155550107"
		_, bobsConv := h.mustSend(t, bobKey, sms(busy, "bob has this one"))

		code, out := h.send(t, annKey, sms([]string{busy, free1, free2}, "service notice"))
		if code != http.StatusOK {
			t.Fatalf("batch send: %d %v, want 200 with per-recipient results", code, out)
		}
		results := objs(out, "results")
		if len(results) != 3 {
			t.Fatalf("results = %v, want 3", results)
		}
		if errCode(results[0]) != "conversation_active" || str(results[0], "to") != busy ||
			str(sub(results[0], "error"), "conversation_id") != bobsConv {
			t.Errorf("result for bob's contact = %v, want conversation_active naming %s", results[0], bobsConv)
		}
		for i, to := range []string{free1, free2} {
			r := results[i+1]
			if str(r, "to") != to || str(r, "status") != "queued" || str(r, "id") == "" || str(r, "conversation_id") == "" {
				t.Errorf("result for %s = %v, want an accepted message", to, r)
				continue
			}
			h.waitStatus(t, str(r, "id"), "sent")
		}
		if n := len(h.twilio.matching(url.QueryEscape(busy))); n != 1 {
			t.Errorf("Twilio got %d messages for bob's contact, want only bob's own", n)
		}
	})
}

// TestLookups is the verification step: conversations with a contact by a number as
// typed, and contacts by name or number prefix.
func TestLookups(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, conv := h.mustSend(t, annKey, sms("+14155550100", "hello"))
	h.postMeta(t, payload(t, "whatsapp_text", inbound{From: "14155550177", Name: "Carol Customer",
		MID: "wamid.carol1", Text: "hi", At: h.clk.Now()}))

	q := url.Values{"channel": {"sms"}, "address": {"(415) 555-0100"}}
	code, out := h.call(t, annKey, http.MethodGet, "/v1/conversations?"+q.Encode(), nil)
	if cs := objs(out, "conversations"); code != http.StatusOK || len(cs) != 1 || str(cs[0], "id") != conv {
		t.Errorf("conversations with (415) 555-0100: %d %v, want %s", code, out, conv)
	}

	contacts := func(query url.Values) []string {
		t.Helper()
		code, out := h.call(t, annKey, http.MethodGet, "/v1/contacts?"+query.Encode(), nil)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/contacts?%s: %d %v", query.Encode(), code, out)
		}
		var got []string
		for _, c := range objs(out, "contacts") {
			got = append(got, str(c, "channel")+" "+str(c, "address")+" "+str(c, "name"))
		}
		return got
	}
	for _, tc := range []struct {
		query url.Values
		want  []string
	}{
		{url.Values{"q": {"carol"}}, []string{"whatsapp +14155550177 Carol Customer"}},
		{url.Values{"q": {"Carol C"}, "channel": {"whatsapp"}}, []string{"whatsapp +14155550177 Carol Customer"}},
		{url.Values{"q": {"+1415555010"}, "channel": {"sms"}}, []string{"sms +14155550100 +14155550100"}},
		{url.Values{"q": {"(415) 555-0100"}, "channel": {"sms"}}, []string{"sms +14155550100 +14155550100"}},
		{url.Values{"q": {"415-555-0100"}, "channel": {"sms"}}, []string{"sms +14155550100 +14155550100"}},
		{url.Values{"q": {"dave"}}, nil},
	} {
		if got := contacts(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("contacts ?%s = %q, want %q", tc.query.Encode(), got, tc.want)
		}
	}
}

// TestQueueStats: messages sent on behalf of a queue are counted for it, per channel and
// status, and only members may look.
func TestQueueStats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, _ := h.mustSend(t, annKey, sms("+14155550171", "one"))
	b, _ := h.mustSend(t, annKey, sms("+14155550172", "two"))
	h.waitStatus(t, a, "sent")
	h.waitStatus(t, b, "sent")
	code, out := h.call(t, platformKey, http.MethodGet, "/v1/queues/support/stats?window=1h", nil)
	if code != http.StatusOK {
		t.Fatalf("stats: %d %v", code, out)
	}
	chans := objs(out, "channels")
	if len(chans) != 1 || str(chans[0], "channel") != "sms" {
		t.Fatalf("stats channels = %v", out)
	}
	counts, _ := chans[0]["counts"].(map[string]any)
	if counts["sent"] != float64(2) {
		t.Errorf("sms counts = %v, want 2 sent", counts)
	}
	code, out = h.call(t, platformKey, http.MethodGet, "/v1/queues/billing/stats", nil)
	if code != http.StatusOK || len(objs(out, "channels")) != 0 {
		t.Errorf("billing stats = %d %v, want no traffic", code, out)
	}
	code, _ = h.call(t, platformKey, http.MethodGet, "/v1/queues/nowhere/stats", nil)
	if code != http.StatusNotFound {
		t.Errorf("unknown queue stats: %d, want 404", code)
	}
}
