package e2e_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestContactNamesFromProfiles: Messenger and Instagram contacts get their names from
// the Graph User Profile API, read with the page's (the Instagram account's) token after
// the webhook was acknowledged: Messenger's first and last name, Instagram's name, else
// its username; a user without any keeps the page-scoped id. The names appear on the
// conversation and in the contact search.
func TestContactNamesFromProfiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const psid, igNamed, igUsername, igNobody = "1254459154682931", "5318329871523951", "5318329871523952", "5318329871523953"
	h.mu.Lock()
	h.profiles = map[string]obj{
		psid:       {"first_name": "Rosa", "last_name": "Díaz"},
		igNamed:    {"name": "Kai Nakamura", "username": "kai.n"},
		igUsername: {"username": "the.real.kai"},
	}
	// Hold every profile answer: the webhooks must be acknowledged all the same.
	gate := make(chan struct{})
	h.profileGate = gate
	h.mu.Unlock()

	at := h.clk.Now()
	h.postMeta(t, payload(t, "messenger_text", inbound{Page: pageID, From: psid, MID: "m_prof1", Text: "hi", At: at}))
	for i, ig := range []string{igNamed, igUsername, igNobody} {
		h.postMeta(t, payload(t, "instagram_text", inbound{Page: igAccount, From: ig, MID: "ig_prof" + itoa(i), Text: "hi", At: at}))
	}
	// Acknowledged while the profile look-ups wait: now let them through.
	close(gate)

	name := func(ch omnigate.Channel, contact string) string {
		conv := h.conversation(t, h.latestConversation(t, ch, contact))
		return str(sub(conv, "contact"), "name")
	}
	want := []struct {
		ch            omnigate.Channel
		contact, name string
	}{
		{omnigate.Messenger, psid, "Rosa Díaz"},
		{omnigate.Instagram, igNamed, "Kai Nakamura"},
		{omnigate.Instagram, igUsername, "the.real.kai"},
	}
	for _, w := range want {
		waitFor(t, string(w.ch)+" name of "+w.contact, func() bool { return name(w.ch, w.contact) == w.name })
	}
	waitFor(t, "the profile look-up of the nameless user", func() bool {
		for _, r := range h.graph.requests() {
			if r.Method == http.MethodGet && r.Path == "/v23.0/"+igNobody {
				return true
			}
		}
		return false
	})
	// Looked up and answered; the recording of an empty name is nothing to wait for,
	// the look-up of the three others already committed the same way.
	if got := name(omnigate.Instagram, igNobody); got != igNobody {
		t.Errorf("a user without a name shows %q, want the page-scoped id", got)
	}

	// A second message does not look the contact up again: the name is cached.
	h.postMeta(t, payload(t, "messenger_text", inbound{Page: pageID, From: psid, MID: "m_prof2", Text: "again", At: at}))
	// The calls: one per contact whatever the number of messages, with the page's
	// token and the fields of each product.
	tokens := map[string]string{psid: "Bearer page-token", igNamed: "Bearer ig-token", igUsername: "Bearer ig-token", igNobody: "Bearer ig-token"}
	fields := map[string]string{psid: "first_name,last_name", igNamed: "name,username", igUsername: "name,username", igNobody: "name,username"}
	seen := map[string]int{}
	for _, r := range h.graph.requests() {
		if r.Method != http.MethodGet {
			continue
		}
		id := r.Path[len("/v23.0/"):]
		seen[id]++
		q, _ := url.ParseQuery(r.Query)
		if r.Header.Get("Authorization") != tokens[id] || q.Get("fields") != fields[id] || q.Has("access_token") {
			t.Errorf("profile call for %s: %s ?%s, want %s with fields %s", id, r.Header.Get("Authorization"), r.Query, tokens[id], fields[id])
		}
	}
	for id := range tokens {
		if seen[id] != 1 {
			t.Errorf("%s looked up %d times, want once", id, seen[id])
		}
	}

	// The contact search finds the name.
	code, out := h.call(t, platformKey, http.MethodGet, "/v1/contacts?channel=messenger&q=rosa", nil)
	if cs := objs(out, "contacts"); code != http.StatusOK || len(cs) != 1 || str(cs[0], "name") != "Rosa Díaz" || str(cs[0], "address") != psid {
		t.Errorf("contact search: %d %v", code, out)
	}
}
