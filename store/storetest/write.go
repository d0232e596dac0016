package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// testWrite: Tx.Write stores what the calls it stands for would, in their order: the
// contact (a stored name kept), the old conversation closed, the new one with its
// messages, and outbox rows whose ids ascend in the order given.
func testWrite(t *testing.T, s store.Store) {
	old := conv("wr-old")
	var ann omnigate.Contact
	if err := s.Update(ctx(), func(tx store.Tx) error {
		if err := tx.InsertConversation(old); err != nil {
			return err
		}
		_, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: old.ContactAddress, Name: "Ann"}, t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	closed := old
	closed.State = omnigate.StateClosed
	fresh := conv("wr-new")
	fresh.OpenedAt, fresh.LastActivityAt, fresh.RepliesSinceInbound = now, now, 1
	m1, m2 := msg("wr-m1", fresh.ID, now), msg("wr-m2", fresh.ID, now)
	w := store.Writes{Now: now,
		Contacts: []omnigate.Contact{{Channel: omnigate.SMS, Address: old.ContactAddress}},
		Updated:  []omnigate.Conversation{closed},
		Inserted: []omnigate.Conversation{fresh},
		Messages: []omnigate.Message{m1, m2},
		Entries: []store.NewEntry{
			{Kind: store.KindDeliver, FIFOKey: fresh.ID, MessageID: m1.ID, DueAt: now},
			{Kind: store.KindDeliver, FIFOKey: fresh.ID, MessageID: m2.ID, DueAt: now},
			{Kind: store.KindEvent, FIFOKey: "ev:" + fresh.ID, Payload: []byte(`{"type":"conversation.updated"}`), DueAt: now},
		}}
	if err := s.Update(ctx(), func(tx store.Tx) error {
		if err := tx.Write(w); err != nil {
			return err
		}
		var err error
		ann, err = tx.Contact(omnigate.SMS, old.ContactAddress)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if ann.Name != "Ann" || !ann.UpdatedAt.Equal(now) {
		t.Errorf("contact after Write = %+v, want name Ann kept and updated at %v", ann, now)
	}
	if c, err := s.Conversation(ctx(), old.ID); err != nil || c.State != omnigate.StateClosed {
		t.Errorf("old conversation = %+v, %v; want closed", c, err)
	}
	if c, err := s.Conversation(ctx(), fresh.ID); err != nil || c.State != omnigate.StateAssigned ||
		!c.OpenedAt.Equal(now) || c.RepliesSinceInbound != 1 {
		t.Errorf("new conversation = %+v, %v", c, err)
	}
	for _, want := range []omnigate.Message{m1, m2} {
		if m, err := s.Message(ctx(), want.ID); err != nil || m.Text != want.Text || m.Status != omnigate.StatusQueued {
			t.Errorf("message %s = %+v, %v", want.ID, m, err)
		}
	}
	// m2 waits behind m1 on their FIFO key; the event is in the event log.
	es, err := claim(t, s, "w", now, time.Minute, 10)
	if err != nil || len(es) != 1 || es[0].MessageID != m1.ID {
		t.Fatalf("claim after Write = %+v, %v: want m1's delivery", es, err)
	}
	if b, err := s.ReadEvents(ctx(), 10); err != nil || len(b.Events) != 1 || b.Events[0].FIFOKey != "ev:"+fresh.ID ||
		string(b.Events[0].Payload) != `{"type":"conversation.updated"}` {
		t.Fatalf("event log after Write = %+v, %v: want the event", b.Events, err)
	}

	// A conversation to update that does not exist: ErrNotFound, and the caller's
	// failure leaves nothing of the Write behind.
	gone := conv("wr-gone")
	err = s.Update(ctx(), func(tx store.Tx) error {
		return tx.Write(store.Writes{Now: now, Contacts: []omnigate.Contact{{Channel: omnigate.SMS, Address: "+14155550199"}},
			Updated: []omnigate.Conversation{gone}, Messages: []omnigate.Message{msg("wr-m3", gone.ID, now)},
			Entries: []store.NewEntry{{Kind: store.KindDeliver, FIFOKey: gone.ID, MessageID: "wr-m3", DueAt: now}}})
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Write updating a missing conversation: %v, want ErrNotFound", err)
	}
	if _, err := s.Message(ctx(), "wr-m3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed Write's message was stored: %v", err)
	}

	// The same contact twice and a conversation updated after its insert, in one Write
	// (no single statement can change a row twice): applied in order all the same.
	twice := conv("wr-twice")
	renamed := twice
	renamed.State = omnigate.StateClosed
	if err := s.Update(ctx(), func(tx store.Tx) error {
		if err := tx.Write(store.Writes{Now: now,
			Contacts: []omnigate.Contact{{Channel: omnigate.SMS, Address: "+14155550177", Name: "Bo"},
				{Channel: omnigate.SMS, Address: "+14155550177", Name: "Bea"}},
			Inserted: []omnigate.Conversation{twice}}); err != nil {
			return err
		}
		// Updated runs before Inserted: a second Write closes it.
		return tx.Write(store.Writes{Now: now, Updated: []omnigate.Conversation{renamed}})
	}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Conversation(ctx(), twice.ID); err != nil || c.State != omnigate.StateClosed {
		t.Errorf("conversation written twice = %+v, %v", c, err)
	}
	if err := s.Update(ctx(), func(tx store.Tx) error {
		c, err := tx.Contact(omnigate.SMS, "+14155550177")
		if err == nil && c.Name != "Bea" {
			t.Errorf("contact written twice: name %q, want the later Bea", c.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
