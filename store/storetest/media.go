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
