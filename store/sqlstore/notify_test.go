package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/store/storetest"
)

// TestPostgresCompleteEventsWakeOthers checks that the events a Complete enqueues wake
// another instance's relay: the notification rides on Complete's first statement.
func TestPostgresCompleteEventsWakeOthers(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	ctx := context.Background()
	a, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	ev := func(p string) store.NewEntry {
		return store.NewEntry{Kind: store.KindEvent, FIFOKey: "ev:x", Payload: []byte(p), DueAt: now}
	}
	// b listens on a connection of its own, ready some time after Open: enqueue until
	// it hears one. The one it hears is the last sent, so nothing is left in flight.
	heard := false
	for i := 0; i < 100 && !heard; i++ {
		if err := a.EnqueueOutbox(ctx, ev("probe")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.Notify():
			heard = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !heard {
		t.Fatal("b never heard a's enqueues")
	}
	c, err := a.ClaimDue(ctx, store.Claim{Owner: "a", Now: now, Lease: time.Minute, Limit: 1})
	if err != nil || len(c.Entries) != 1 {
		t.Fatalf("claim: %v %d entries", err, len(c.Entries))
	}
	e := c.Entries[0]
	errs, err := a.Complete(ctx, []store.Result{{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Done,
		Events: []store.NewEntry{ev("follow-up")}}}, now)
	if err != nil || errs[0] != nil {
		t.Fatalf("complete: %v %v", err, errs)
	}
	select {
	case <-b.Notify():
	case <-time.After(10 * time.Second):
		t.Fatal("b was not woken by the events a's Complete enqueued")
	}
}
