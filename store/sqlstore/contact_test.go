package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// TestContactOptOutsOneStatement checks the joined read of a contact and its opt-outs
// (every opt-out in address order, none for a contact without any, not found for an
// address that only has opt-outs) and the contact the upsert returns (the stored name
// kept when an upsert brings none).
func TestContactOptOutsOneStatement(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			now := time.Now()
			err := db.Update(ctx, func(tx store.Tx) error {
				for _, a := range []string{"+15550002222", "+15550001111", "+15550003333"} {
					if err := tx.SetOptOut(store.OptOut{Channel: omnigate.SMS, ContactAddress: "+15557770000", OurAddress: a, OptedOut: true, Now: now}); err != nil {
						return err
					}
				}
				if err := tx.SetOptOut(store.OptOut{Channel: omnigate.SMS, ContactAddress: "+15558880000", OurAddress: "+15550001111", OptedOut: true, Now: now}); err != nil {
					return err
				}
				ann, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: "+15557770000", Name: "Ann"}, now)
				if err != nil {
					return err
				}
				if ann.Name != "Ann" || ann.Address != "+15557770000" || ann.UpdatedAt.UnixMicro() != now.UnixMicro() {
					t.Errorf("upserted = %+v, want Ann updated at %v", ann, now)
				}
				bo, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: "+15556660000", Name: "Bo"}, now)
				if err != nil {
					return err
				}
				// A later upsert without a name keeps the stored one and returns it.
				bo, err = tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: "+15556660000"}, now)
				if err != nil {
					return err
				}
				if bo.Name != "Bo" || bo.OptedOut != nil || bo.UpdatedAt.UnixMicro() != now.UnixMicro() {
					t.Errorf("upserted = %+v, want Bo with no opt-outs, updated at %v", bo, now)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(ctx, func(tx store.Tx) error {
				c, err := tx.Contact(omnigate.SMS, "+15557770000")
				if err != nil {
					return err
				}
				if want := []string{"+15550001111", "+15550002222", "+15550003333"}; c.Name != "Ann" || !slices.Equal(c.OptedOut, want) {
					t.Errorf("contact = %+v, want Ann opted out of %v", c, want)
				}
				c, err = tx.Contact(omnigate.SMS, "+15556660000")
				if err != nil {
					return err
				}
				if c.Name != "Bo" || len(c.OptedOut) != 0 || c.UpdatedAt.IsZero() {
					t.Errorf("contact = %+v, want Bo with no opt-outs", c)
				}
				if _, err := tx.Contact(omnigate.SMS, "+15558880000"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("opt-outs without a contact row: err = %v, want ErrNotFound", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRecipientOneStatement checks the combined read a send decides on against the
// separate reads: the contact with its opt-outs, and the latest conversation with
// every field; zeros and the flags off when either is missing.
func TestRecipientOneStatement(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			now := time.Now().UTC().Truncate(time.Microsecond)
			k := store.ConversationKey{Channel: omnigate.SMS, Address: "+15550001111", ContactAddress: "+15557770000"}
			err := db.Update(context.Background(), func(tx store.Tx) error {
				r, err := tx.Recipient(k)
				if err != nil {
					return err
				}
				if r.ContactKnown || r.HasLatest || r.Contact.Name != "" || r.Contact.OptedOut != nil || r.Latest.ID != "" {
					t.Errorf("nothing stored: recipient = %+v, want zeros", r)
				}
				// Opted out, with no contact row yet: the opt-out is still read.
				if err := tx.SetOptOut(store.OptOut{Channel: omnigate.SMS, ContactAddress: k.ContactAddress, OurAddress: k.Address, OptedOut: true, Now: now}); err != nil {
					return err
				}
				if r, err = tx.Recipient(k); err != nil || r.ContactKnown || !slices.Equal(r.Contact.OptedOut, []string{k.Address}) {
					t.Errorf("opt-out only: recipient = %+v, %v", r, err)
				}
				if _, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: k.ContactAddress, Name: "Ann"}, now); err != nil {
					return err
				}
				for i, id := range []string{"conv-old", "conv-new"} {
					c := omnigate.Conversation{ID: id, Channel: omnigate.SMS, QueueID: "support", Address: k.Address,
						ContactAddress: k.ContactAddress, ContactName: "Ann", State: omnigate.StateAssigned, AssignedTo: "agent-ann",
						OpenedAt: now, LastInboundAt: now.Add(-time.Minute), LastActivityAt: now.Add(time.Duration(i) * time.Second),
						RepliesSinceInbound: 2 + i, WrapupCode: "w", WrapupNotes: "n"}
					if err := tx.InsertConversation(c); err != nil {
						return err
					}
				}
				r, err = tx.Recipient(k)
				if err != nil {
					return err
				}
				c, err := tx.Contact(k.Channel, k.ContactAddress)
				if err != nil {
					return err
				}
				latest, err := tx.LatestConversation(k)
				if err != nil {
					return err
				}
				if !r.ContactKnown || r.Contact.Name != c.Name || !r.Contact.UpdatedAt.Equal(c.UpdatedAt) || !slices.Equal(r.Contact.OptedOut, c.OptedOut) {
					t.Errorf("contact = %+v, want %+v", r.Contact, c)
				}
				if !r.HasLatest || r.Latest != latest || r.Latest.ID != "conv-new" {
					t.Errorf("latest = %+v, want %+v", r.Latest, latest)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
