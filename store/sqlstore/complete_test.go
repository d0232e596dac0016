package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

// TestCompleteBatchOfSeveralClaims completes, in one batch, rows of three claims (three
// lease tokens) in mixed order, one of them with a token it does not hold: the rows
// whose token holds go, the other stays, leased, and is told its lease is lost.
func TestCompleteBatchOfSeveralClaims(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			enqueueEvents(t, db, 9, now)
			var claimed []store.Entry
			for range 3 {
				c, err := db.ClaimDue(ctx, store.Claim{Owner: "me", Now: now, Lease: time.Minute, Limit: 3})
				if err != nil || len(c.Entries) != 3 {
					t.Fatalf("claim: %d rows, %v", len(c.Entries), err)
				}
				claimed = append(claimed, c.Entries...)
			}
			if claimed[0].LeaseToken == claimed[3].LeaseToken || claimed[3].LeaseToken == claimed[6].LeaseToken {
				t.Fatal("two claims share a lease token")
			}
			var results []store.Result
			for _, i := range []int{7, 0, 4, 8, 1, 3, 6, 2, 5} {
				e := claimed[i]
				token := e.LeaseToken
				if i == 4 {
					token = claimed[0].LeaseToken // another claim's token
				}
				results = append(results, store.Result{EntryID: e.ID, Token: token, Outcome: store.Done})
			}
			errs, err := db.Complete(ctx, results, now)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range results {
				lost := r.EntryID == claimed[4].ID
				if got := errors.Is(errs[i], store.ErrLeaseLost); got != lost || (!lost && errs[i] != nil) {
					t.Errorf("row %d: err = %v, want lease lost %v", r.EntryID, errs[i], lost)
				}
			}
			left, err := db.Outbox(ctx, "pending", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 1 || left[0].ID != claimed[4].ID {
				t.Fatalf("left %+v, want only row %d", left, claimed[4].ID)
			}
			// Its own claim's token still holds it.
			errs, err = db.Complete(ctx, []store.Result{{EntryID: claimed[4].ID, Token: claimed[4].LeaseToken, Outcome: store.Done}}, now)
			if err != nil || errs[0] != nil {
				t.Fatalf("complete with its own token: %v, %v", err, errs)
			}
		})
	}
}

// TestClaimLimitsVary claims with a different limit each time, as the relay does with
// its free workers: each claim takes as many rows as asked, none twice.
func TestClaimLimitsVary(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			enqueueEvents(t, db, 12, now)
			seen := map[int64]bool{}
			for _, limit := range []int{1, 3, 2, 5, 1, 4} {
				c, err := db.ClaimDue(ctx, store.Claim{Owner: "me", Now: now, Lease: time.Minute, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				if want := min(limit, 12-len(seen)); len(c.Entries) != want {
					t.Fatalf("limit %d: claimed %d rows, want %d", limit, len(c.Entries), want)
				}
				for _, e := range c.Entries {
					if seen[e.ID] {
						t.Fatalf("row %d claimed twice", e.ID)
					}
					seen[e.ID] = true
				}
			}
		})
	}
}

// enqueueEvents enqueues n event rows due at now, each on its own FIFO key.
func enqueueEvents(t *testing.T, db store.Store, n int, now time.Time) {
	t.Helper()
	var es []store.NewEntry
	for i := range n {
		es = append(es, store.NewEntry{Kind: store.KindEvent, FIFOKey: fmt.Sprintf("ev:%d", i), Payload: []byte("{}"), DueAt: now})
	}
	if err := db.(*sqlstore.DB).EnqueueOutbox(context.Background(), es...); err != nil {
		t.Fatal(err)
	}
}
