package api_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// TestContactSearchLimitedToQueues: an agent finds only the contacts of conversations in
// its queues; a key with "*" finds them all.
func TestContactSearchLimitedToQueues(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	now := time.Now().UTC()
	err := a.st.Update(context.Background(), func(tx store.Tx) error {
		for i, c := range []struct{ contact, name, queue string }{
			{"+14155550100", "Ann Support", "support"},
			{"+14155550111", "Bea Billing", "billing"},
			{"+14155550122", "Cy Nobody", ""},
		} {
			if _, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: c.contact, Name: c.name}, now); err != nil {
				return err
			}
			if c.queue == "" {
				continue
			}
			if err := tx.InsertConversation(omnigate.Conversation{ID: fmt.Sprintf("conv_%d", i), Channel: omnigate.SMS,
				QueueID: c.queue, Address: "+15550001111", ContactAddress: c.contact, State: omnigate.StateQueued,
				OpenedAt: now, LastActivityAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  string
		want []string
	}{
		{agentKey, []string{"+14155550100"}},
		{viewerKey, []string{"+14155550100"}},
		{allKey, []string{"+14155550100", "+14155550111", "+14155550122"}},
	} {
		for _, q := range []string{"", "b", "+1415"} {
			r := a.do(t, "GET", "/v1/contacts?channel=sms&q="+url.QueryEscape(q), tt.key, nil)
			if r.status != 200 {
				t.Fatalf("%s: status %d: %s", tt.key, r.status, r.raw)
			}
			var got []string
			list, _ := r.body["contacts"].([]any)
			for _, c := range list {
				got = append(got, c.(map[string]any)["address"].(string))
			}
			want := tt.want
			if q == "b" {
				want = slices.DeleteFunc(slices.Clone(want), func(a string) bool { return a != "+14155550111" })
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s q=%q: contacts %v, want %v", tt.key, q, got, want)
			}
		}
	}
}
