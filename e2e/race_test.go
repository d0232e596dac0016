package e2e_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestSimultaneousStartsOneWins has ann and bob start a conversation with the same
// contact at the same moment, for many contacts at once: for each contact exactly one
// send is accepted and the other is told the conversation is active, and the contact
// has one conversation, assigned to the winner, holding the winner's message only.
func TestSimultaneousStartsOneWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const contacts = 25
	type answer struct {
		code int
		out  obj
	}
	results := make([][2]answer, contacts)
	agents := [2]string{annKey, bobKey}
	barrier := make(chan struct{})
	var wg sync.WaitGroup
	for i := range contacts {
		for j, key := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-barrier
				code, out := h.send(t, key, sms(fmt.Sprintf("+1415555%04d", 2000+i), "hello from "+key))
				results[i][j] = answer{code, out}
			}()
		}
	}
	close(barrier)
	wg.Wait()

	for i, r := range results {
		to := fmt.Sprintf("+1415555%04d", 2000+i)
		win, lose := -1, -1
		for j, a := range r {
			switch {
			case a.code == http.StatusAccepted:
				win = j
			case a.code == http.StatusConflict && errCode(a.out) == "conversation_active":
				lose = j
			}
		}
		if win < 0 || lose < 0 {
			t.Errorf("%s: answers %d %v and %d %v, want one 202 and one 409 conversation_active",
				to, r[0].code, r[0].out, r[1].code, r[1].out)
			continue
		}
		conv := str(r[win].out, "conversation_id")
		if got := str(sub(r[lose].out, "error"), "conversation_id"); got != conv {
			t.Errorf("%s: the refusal names conversation %q, want the winner's %q", to, got, conv)
		}
		c := h.conversation(t, conv)
		winner := map[int]string{0: "agent-ann", 1: "agent-bob"}[win]
		if str(c, "assigned_to") != winner || len(objs(c, "messages")) != 1 {
			t.Errorf("%s: conversation assigned to %q with %d messages, want %s with 1",
				to, str(c, "assigned_to"), len(objs(c, "messages")), winner)
		}
		if cs := h.conversationsWith(t, "sms", to); len(cs) != 1 {
			t.Errorf("%s: %d conversations, want 1", to, len(cs))
		}
	}
}
