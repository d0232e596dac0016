package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// TestSQLiteLeanTablesMigration rolls the migration that rebuilds contacts,
// conversations and the inbound dedupe keys back and forth over data: nothing is lost
// either way, and the dedupe still refuses a key it has seen.
func TestSQLiteLeanTablesMigration(t *testing.T) {
	db := OpenSQLite(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := omnigate.Conversation{ID: "conv-1", Channel: omnigate.SMS, QueueID: "support", Address: "+15550001111",
		ContactAddress: "+15557770000", ContactName: "Ann", State: omnigate.StateAssigned, AssignedTo: "agent-ann",
		OpenedAt: now, LastInboundAt: now, LastActivityAt: now, RepliesSinceInbound: 1, WrapupCode: "w", WrapupNotes: "n"}
	err := db.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: c.ContactAddress, Name: "Ann"}, now); err != nil {
			return err
		}
		if _, err := tx.SeenInbound("twilio", "SM1", now); err != nil {
			return err
		}
		return tx.InsertConversation(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		err := db.Update(ctx, func(tx store.Tx) error {
			got, err := tx.Conversation(c.ID)
			if err != nil || got != c {
				t.Errorf("%s: conversation = %+v, %v; want %+v", when, got, err, c)
			}
			if ct, err := tx.Contact(omnigate.SMS, c.ContactAddress); err != nil || ct.Name != "Ann" {
				t.Errorf("%s: contact = %+v, %v", when, ct, err)
			}
			if fresh, err := tx.SeenInbound("twilio", "SM1", now); err != nil || fresh {
				t.Errorf("%s: a seen message id reads as fresh (%v)", when, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("migrated")
	if err := db.MigrateDownTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	check("rolled back")
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("migrated again")
}
