package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

func testMedia(t *testing.T, s store.Store) {
	want := []store.MediaRef{
		{ID: "med_1", ConversationID: "c1", MessageID: "m1", Channel: omnigate.WhatsApp, Address: "+15550002222",
			Locator: "1234567890", ContentType: "image/jpeg", CreatedAt: t0},
		{ID: "med_2", ConversationID: "c1", MessageID: "m2", Channel: omnigate.Instagram, Address: "17841400000000",
			ContentType: "image/*", Ephemeral: true, ExpiresAt: t0.Add(24 * time.Hour), CreatedAt: t0},
	}
	if err := s.Update(ctx(), func(tx store.Tx) error {
		for _, m := range want {
			if err := tx.InsertMedia(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, err := s.Media(ctx(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.Equal(w.ExpiresAt) || !got.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("%s times = %v, %v; want %v, %v", w.ID, got.ExpiresAt, got.CreatedAt, w.ExpiresAt, w.CreatedAt)
		}
		got.ExpiresAt, got.CreatedAt, w.ExpiresAt, w.CreatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != w {
			t.Errorf("media %s = %+v, want %+v", w.ID, got, w)
		}
	}
	if _, err := s.Media(ctx(), "med_none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown media: err = %v, want ErrNotFound", err)
	}
}

func testMediaRetentionAndErasure(t *testing.T, s store.Store) {
	const ann, bob = "+14155550100", "+14155550199"
	annConv, bobConv := conv("ann"), conv("bob")
	bobConv.ContactAddress = bob
	insertAll(t, s, []omnigate.Conversation{annConv, bobConv}, nil)
	refs := []store.MediaRef{
		{ID: "med_bob_old", ConversationID: "bob", MessageID: "m1", CreatedAt: t0.Add(-100 * 24 * time.Hour)},
		{ID: "med_bob_new", ConversationID: "bob", MessageID: "m2", CreatedAt: t0.Add(-time.Hour)},
		{ID: "med_ann", ConversationID: "ann", MessageID: "m3", CreatedAt: t0.Add(-time.Hour)},
	}
	if err := s.Update(ctx(), func(tx store.Tx) error {
		for _, m := range refs {
			m.Channel, m.Address, m.Locator, m.ContentType = omnigate.SMS, "+15550001111", "https://api.twilio.com/x", "image/png"
			if err := tx.InsertMedia(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx(), store.Prune{BodiesBefore: t0.Add(-90 * 24 * time.Hour), Now: t0, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx store.Tx) error {
		_, err := tx.EraseContact(omnigate.SMS, ann, t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for id, kept := range map[string]bool{"med_bob_old": false, "med_bob_new": true, "med_ann": false} {
		_, err := s.Media(ctx(), id)
		switch {
		case kept && err != nil:
			t.Errorf("%s: %v, want it kept", id, err)
		case !kept && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: err = %v, want ErrNotFound (retention or erasure removes the reference)", id, err)
		}
	}
}
