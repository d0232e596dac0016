package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

func testTemplates(t *testing.T, s store.Store) {
	const wa = "+15550002222"
	set, err := s.Templates(ctx(), omnigate.WhatsApp, wa)
	if err != nil || !set.SyncedAt.IsZero() || len(set.Templates) != 0 {
		t.Fatalf("before any sync: %+v, %v; want nothing, never synced", set, err)
	}
	want := []store.Template{
		{Name: "appointment_reminder", Language: "en_US", Category: "UTILITY", Status: "approved",
			Body: "Hi {{1}}, see you on {{2}}.", Variables: []string{"1", "2"}, ProviderID: "111"},
		{Name: "appointment_reminder", Language: "es_ES", Category: "UTILITY", Status: "approved",
			Body: "Hola {{1}}, nos vemos el {{2}}.", Variables: []string{"1", "2"}, ProviderID: "112"},
		{Name: "summer_sale", Language: "en_US", Category: "MARKETING", Status: "rejected", Body: "Sale!", Variables: []string{}},
	}
	if err := s.ReplaceTemplates(ctx(), omnigate.WhatsApp, wa, []store.Template{want[2], want[1], want[0]}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceTemplates(ctx(), omnigate.WhatsApp, "+15550009999", want[:1], t0); err != nil {
		t.Fatal(err)
	}
	set, err = s.Templates(ctx(), omnigate.WhatsApp, wa)
	if err != nil {
		t.Fatal(err)
	}
	if !set.SyncedAt.Equal(t0) {
		t.Errorf("synced at %v, want %v", set.SyncedAt, t0)
	}
	if d := cmp.Diff(want, set.Templates); d != "" {
		t.Errorf("templates (-want +got):\n%s", d)
	}
	// A sync replaces the catalogue: a template the carrier no longer reports is gone.
	later := t0.Add(time.Hour)
	if err := s.ReplaceTemplates(ctx(), omnigate.WhatsApp, wa, want[2:], later); err != nil {
		t.Fatal(err)
	}
	set, _ = s.Templates(ctx(), omnigate.WhatsApp, wa)
	if len(set.Templates) != 1 || set.Templates[0].Name != "summer_sale" || !set.SyncedAt.Equal(later) {
		t.Errorf("after the second sync: %+v", set)
	}
	// An empty catalogue is remembered as synced and empty.
	if err := s.ReplaceTemplates(ctx(), omnigate.WhatsApp, wa, nil, later); err != nil {
		t.Fatal(err)
	}
	set, _ = s.Templates(ctx(), omnigate.WhatsApp, wa)
	if len(set.Templates) != 0 || set.SyncedAt.IsZero() {
		t.Errorf("after an empty sync: %+v", set)
	}
	other, _ := s.Templates(ctx(), omnigate.WhatsApp, "+15550009999")
	if len(other.Templates) != 1 {
		t.Errorf("another address's catalogue changed: %+v", other)
	}
}

// retentionMsg is a message of conversation convID created at at, with text, media
// and a template's variables, in status st.
func retentionMsg(id, convID string, at time.Time, st omnigate.MessageStatus) omnigate.Message {
	m := msg(id, convID, at)
	m.Status = st
	m.Media = []omnigate.Media{{URL: "https://cdn.example.com/" + id + ".png", ContentType: "image/png"}}
	return m
}

func insertAll(t *testing.T, s store.Store, convs []omnigate.Conversation, msgs []omnigate.Message, deliver ...string) {
	t.Helper()
	err := s.Update(ctx(), func(tx store.Tx) error {
		for _, c := range convs {
			if err := tx.InsertConversation(c); err != nil {
				return err
			}
		}
		for _, m := range msgs {
			if err := tx.InsertMessage(m); err != nil {
				return err
			}
			if slices.Contains(deliver, m.ID) {
				if err := tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: m.ConversationID, MessageID: m.ID, DueAt: t0}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func messagesOf(t *testing.T, s store.Store, convID string) map[string]omnigate.Message {
	t.Helper()
	ms, err := s.ConversationMessages(ctx(), convID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]omnigate.Message{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

func tombstone(m omnigate.Message) bool {
	return m.Redacted && m.Text == "" && len(m.Media) == 0 && (m.Template == nil || len(m.Template.Variables) == 0)
}

func testRetentionBodies(t *testing.T, s store.Store) {
	old, fresh := t0.Add(-100*24*time.Hour), t0.Add(-time.Hour)
	tmpl := retentionMsg("old-template", "c1", old.Add(time.Second), omnigate.StatusDelivered)
	tmpl.Media = nil
	tmpl.Text = ""
	tmpl.Template = &omnigate.Template{Name: "order_update", Language: "en_US", Variables: map[string]string{"1": "Ann"}}
	insertAll(t, s, []omnigate.Conversation{conv("c1")}, []omnigate.Message{
		retentionMsg("old-sent", "c1", old, omnigate.StatusSent),
		retentionMsg("old-received", "c1", old.Add(2*time.Second), omnigate.StatusReceived),
		tmpl,
		// Still in the relay's hands: its text is what the carrier will be sent.
		retentionMsg("old-queued", "c1", old.Add(3*time.Second), omnigate.StatusQueued),
		retentionMsg("fresh", "c1", fresh, omnigate.StatusDelivered),
	}, "old-queued")

	cut := t0.Add(-90 * 24 * time.Hour)
	n, err := s.Prune(ctx(), store.Prune{BodiesBefore: cut, Now: t0, Limit: 2})
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want the 3 old messages no worker holds", n, err)
	}
	got := messagesOf(t, s, "c1")
	if len(got) != 5 {
		t.Fatalf("%d messages left, want all 5 (tombstones keep counts)", len(got))
	}
	for _, id := range []string{"old-sent", "old-received", "old-template"} {
		if m := got[id]; !tombstone(m) || m.Status == "" || !m.UpdatedAt.Equal(t0) {
			t.Errorf("%s = %+v, want a tombstone keeping its status", id, m)
		}
	}
	if m := got["old-template"]; m.Template == nil || m.Template.Name != "order_update" || m.Template.Language != "en_US" {
		t.Errorf("template tombstone = %+v, want name and language kept", m.Template)
	}
	for _, id := range []string{"old-queued", "fresh"} {
		if m := got[id]; m.Redacted || m.Text == "" || len(m.Media) != 1 {
			t.Errorf("%s = %+v, want it untouched", id, m)
		}
	}
	if n, err := s.Prune(ctx(), store.Prune{BodiesBefore: cut, Now: t0, Limit: 2}); err != nil || n != 0 {
		t.Errorf("second prune: %d (%v), want nothing left to do", n, err)
	}
}

func testRetentionConversations(t *testing.T, s store.Store) {
	yearAgo := t0.Add(-400 * 24 * time.Hour)
	gone, held, fresh := conv("gone"), conv("held"), conv("fresh")
	gone.LastActivityAt, gone.OpenedAt, gone.State = yearAgo, yearAgo, omnigate.StateClosed
	held.LastActivityAt, held.OpenedAt, held.State = yearAgo, yearAgo, omnigate.StateClosed
	insertAll(t, s, []omnigate.Conversation{gone, held, fresh}, []omnigate.Message{
		retentionMsg("gone-1", "gone", yearAgo, omnigate.StatusDelivered),
		retentionMsg("gone-2", "gone", yearAgo, omnigate.StatusRead),
		// A dead letter still refers to this one: an operator may replay it.
		retentionMsg("held-1", "held", yearAgo, omnigate.StatusFailed),
		retentionMsg("fresh-1", "fresh", t0, omnigate.StatusDelivered),
	}, "held-1")

	n, err := s.Prune(ctx(), store.Prune{ConversationsBefore: t0.Add(-365 * 24 * time.Hour), Now: t0, Limit: 10})
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 1 conversation and its 2 messages", n, err)
	}
	if _, err := s.Conversation(ctx(), "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old conversation: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Message(ctx(), "gone-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old conversation's message: err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"held", "fresh"} {
		if _, err := s.Conversation(ctx(), id); err != nil {
			t.Errorf("conversation %s: %v, want it kept", id, err)
		}
	}
	if len(messagesOf(t, s, "held")) != 1 {
		t.Errorf("the held conversation lost its message")
	}
}

func testEraseContact(t *testing.T, s store.Store) {
	const ann, bob = "+14155550100", "+14155550199"
	c1, c2, other := conv("ann-1"), conv("ann-2"), conv("bob-1")
	c1.ContactName, c1.State, c1.WrapupNotes = "Ann Smith", omnigate.StateClosed, "Ann asked about her refund"
	c2.Address, c2.ContactName = "+15550003333", "Ann Smith"
	other.ContactAddress, other.ContactName = bob, "Bob"
	in := retentionMsg("ann-in", "ann-1", t0, omnigate.StatusReceived)
	in.Direction, in.From, in.To = omnigate.Inbound, ann, "+15550001111"
	err := s.Update(ctx(), func(tx store.Tx) error {
		for _, c := range []omnigate.Contact{{Channel: omnigate.SMS, Address: ann, Name: "Ann Smith"}, {Channel: omnigate.SMS, Address: bob, Name: "Bob"}} {
			if _, err := tx.UpsertContact(c, t0); err != nil {
				return err
			}
		}
		return tx.SetOptOut(store.OptOut{Channel: omnigate.SMS, ContactAddress: ann, OurAddress: "+15550001111", OptedOut: true, Now: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	insertAll(t, s, []omnigate.Conversation{c1, c2, other}, []omnigate.Message{
		in,
		retentionMsg("ann-out", "ann-1", t0.Add(time.Second), omnigate.StatusDelivered),
		retentionMsg("ann-queued", "ann-2", t0.Add(2*time.Second), omnigate.StatusQueued),
		retentionMsg("bob-out", "bob-1", t0, omnigate.StatusDelivered),
	}, "ann-queued")

	var er store.Erasure
	err = s.Update(ctx(), func(tx store.Tx) error {
		var err error
		er, err = tx.EraseContact(omnigate.SMS, ann, t0.Add(time.Minute))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Erasure{Conversations: []string{"ann-1", "ann-2"}, Messages: 3, Canceled: []string{"ann-queued"}}
	if d := cmp.Diff(want, er); d != "" {
		t.Errorf("erasure (-want +got):\n%s", d)
	}
	var contact omnigate.Contact
	s.Update(ctx(), func(tx store.Tx) error {
		contact, err = tx.Contact(omnigate.SMS, ann)
		return err
	})
	if err != nil || contact.Name != "" || !slices.Contains(contact.OptedOut, "+15550001111") {
		t.Errorf("contact after erasure = %+v (%v), want no name and the opt-out kept", contact, err)
	}
	for _, id := range []string{"ann-1", "ann-2"} {
		c, err := s.Conversation(ctx(), id)
		if err != nil || c.ContactName != "" || c.WrapupNotes != "" || c.ContactAddress != ann {
			t.Errorf("conversation %s = %+v (%v), want the name and notes gone, the thread kept", id, c, err)
		}
	}
	got := messagesOf(t, s, "ann-1")
	if len(got) != 2 || !tombstone(got["ann-in"]) || !tombstone(got["ann-out"]) || got["ann-out"].Status != omnigate.StatusDelivered {
		t.Errorf("ann-1 messages = %+v, want 2 tombstones", got)
	}
	if m := messagesOf(t, s, "ann-2")["ann-queued"]; m.Status != omnigate.StatusCanceled || !tombstone(m) {
		t.Errorf("queued message = %+v, want canceled and erased", m)
	}
	if rows, _ := s.Outbox(ctx(), store.OutboxPending, 0, 10); len(rows) != 0 {
		t.Errorf("outbox = %+v, want the queued delivery gone", rows)
	}
	if m := messagesOf(t, s, "bob-1")["bob-out"]; m.Redacted || m.Text == "" {
		t.Errorf("another contact's message = %+v, want it untouched", m)
	}
	if c, _ := s.Conversation(ctx(), "bob-1"); c.ContactName != "Bob" {
		t.Errorf("another contact's conversation = %+v", c)
	}
	err = s.Update(ctx(), func(tx store.Tx) error {
		_, err := tx.EraseContact(omnigate.SMS, "+14155550123", t0)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erasing an unknown contact: err = %v, want ErrNotFound", err)
	}
}
