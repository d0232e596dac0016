package messaging_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

// openStore returns a fresh SQLite store, closed when the test ends.
func openStore(t *testing.T) *sqlstore.DB {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "o.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestPruneKeepsWhatIsStillNeeded: dedupe keys past a week, idempotency records past a
// day and held receipts past a day go; younger ones stay and still dedupe.
func TestPruneKeepsWhatIsStillNeeded(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	svc, err := messaging.New(messaging.Config{Store: st, Policy: policy.Default,
		Queues: func() map[string]omnigate.Queue { return nil }, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	write := func(id string, at time.Time) {
		if err := st.Update(context.Background(), func(tx store.Tx) error {
			if _, err := tx.SeenInbound("twilio", id, at); err != nil {
				return err
			}
			if _, err := tx.BeginIdempotency(store.IdempotencyBegin{PrincipalID: "ann", Key: id, BodyHash: "h", Now: at, Expired: at.Add(-time.Hour), Stale: at.Add(-time.Hour)}); err != nil {
				return err
			}
			_, err := tx.ApplyReceipt(store.Receipt{Channel: omnigate.SMS, ProviderMessageID: id, Status: omnigate.StatusDelivered}, at)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	write("week-old", now.Add(-8*24*time.Hour))
	write("two-days", now.Add(-2*24*time.Hour))
	write("fresh", now.Add(-time.Hour))
	n, err := svc.Prune(context.Background())
	// week-old: all three kinds; two-days: its idempotency record and held receipt.
	if err != nil || n != 5 {
		t.Fatalf("pruned %d (%v), want 5", n, err)
	}
	for id, wantNew := range map[string]bool{"week-old": true, "two-days": false, "fresh": false} {
		var fresh bool
		st.Update(context.Background(), func(tx store.Tx) error {
			fresh, err = tx.SeenInbound("twilio", id, now)
			return err
		})
		if fresh != wantNew {
			t.Errorf("%s seen as new = %v, want %v", id, fresh, wantNew)
		}
	}
}
