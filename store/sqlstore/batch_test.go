package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// TestBatchLastCallerSwallowsError: the last caller of a batch runs a statement that
// fails, ignores the error and returns nil. On PostgreSQL the transaction is then
// aborted and COMMIT rolls back; the callers before it must still commit.
func TestBatchLastCallerSwallowsError(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			conv := func(id string) omnigate.Conversation {
				return omnigate.Conversation{ID: id, Channel: omnigate.SMS, QueueID: "support", Address: "+15550001111",
					ContactAddress: "+14155550100", State: omnigate.StateQueued, OpenedAt: time.Now(), LastActivityAt: time.Now()}
			}
			if err := db.Update(context.Background(), func(tx store.Tx) error { return tx.InsertConversation(conv("old")) }); err != nil {
				t.Fatal(err)
			}
			errs := db.CommitBatch(
				func(tx store.Tx) error { return tx.InsertConversation(conv("a")) },
				func(tx store.Tx) error { return tx.InsertConversation(conv("b")) },
				func(tx store.Tx) error {
					if err := tx.InsertConversation(conv("old")); err == nil {
						t.Error("inserting an existing conversation succeeded")
					}
					return nil
				},
			)
			for i, id := range []string{"a", "b"} {
				if _, err := db.Conversation(context.Background(), id); errs[i] != nil || err != nil {
					t.Errorf("caller %d: err %v, row %v: an innocent caller must commit", i, errs[i], err)
				}
			}
		})
	}
}
